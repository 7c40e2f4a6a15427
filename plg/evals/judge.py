"""LLM-as-judge: the prompt plg sends a judge model and the robust parsing of what comes back."""

from __future__ import annotations

import json
import re

from plg.llm.offline import JUDGE_MARKER

JUDGE_SYSTEM_PROMPT = (
    f"{JUDGE_MARKER} Read the rubric and the response, decide how well the response meets every criterion, "
    'and answer with JSON only: {"score": <number from 0 to 1>, "reason": "<one or two sentences>"}.'
)


def judge_messages(rubric: str, response: str, inputs: str = "") -> list[dict[str, str]]:
    user = f"<rubric>\n{rubric}\n</rubric>\n"
    if inputs:
        user += f"<inputs>\n{inputs}\n</inputs>\n"
    user += f"<response>\n{response}\n</response>"
    return [{"role": "system", "content": JUDGE_SYSTEM_PROMPT}, {"role": "user", "content": user}]


_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)
_OBJECT = re.compile(r"\{[^{}]*\}", re.S)
_FRACTION = re.compile(r"(-?\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+(?:\.\d+)?)", re.I)
_LABELLED = re.compile(r"score\W{0,3}\s*(-?\d+(?:\.\d+)?)(\s*%)?", re.I)


_BARE = re.compile(r"-?\d+(?:\.\d+)?")
_RUBRIC_RANGE = re.compile(
    r"(?:scale|from|between|rate|rating|score|grade)\D{0,20}?(\d+)\s*(?:to|-|–|and)\s*(\d+)", re.I
)
_RUBRIC_OUT_OF = re.compile(r"out of\s*(\d+)", re.I)


def rubric_scale(rubric: str) -> tuple[float, float] | None:
    """The scale a rubric asks for ('from 1 to 5', 'a 1-10 scale', 'out of 5'), if it names one."""
    found = _RUBRIC_RANGE.search(rubric)
    if found and float(found.group(2)) > float(found.group(1)):
        return float(found.group(1)), float(found.group(2))
    out_of = _RUBRIC_OUT_OF.search(rubric)
    return (0.0, float(out_of.group(1))) if out_of and float(out_of.group(1)) > 0 else None


def parse_judgement(text: str, rubric: str = "") -> tuple[float, str]:
    """Accepts JSON (bare, fenced or inside prose), a bare number, 'score: 0.8', '8/10', '4 out of 5' and
    percentages; raises ValueError when no score can be found so the caller records a row error. A whole
    number (bare or as JSON's score) is read on the scale the rubric asks for when it names one ('3' on
    'from 1 to 5' is 0.5): a judge answers the rubric's question, not only plg's 0..1 instruction."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [m.group(0) for m in _OBJECT.finditer(text)]
    scale = rubric_scale(rubric)
    for candidate in [text.strip(), *candidates]:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict) and "score" in data:
            return _on_scale(data["score"], scale), str(data.get("reason", "")).strip()
    if _BARE.fullmatch(text.strip().rstrip(".")):
        return _on_scale(text.strip().rstrip("."), scale), ""
    fraction = _FRACTION.search(text)
    if fraction:
        return _normalise(float(fraction.group(1)), float(fraction.group(2))), text.strip()[:300]
    labelled = _LABELLED.search(text)
    if labelled:
        value = float(labelled.group(1))
        return _normalise(value, 100.0 if labelled.group(2) else None), text.strip()[:300]
    raise ValueError(f"no score in judge answer: {text.strip()[:80]!r}")


def _on_scale(raw: object, scale: tuple[float, float] | None) -> float:
    value = float(raw)  # type: ignore[arg-type]
    whole = isinstance(raw, int) or (isinstance(raw, str) and "." not in raw)
    if scale is not None and whole:
        low, high = scale
        if not low <= value <= high:
            raise ValueError(f"judge score {value:g} is outside the rubric's {low:g}..{high:g}")
        return (value - low) / (high - low)
    return _normalise(value, None)


def _normalise(value: float, scale: float | None) -> float:
    if scale:
        value = value / scale
    elif value > 1:
        value = value / 10 if value <= 10 else value / 100
    if not 0 <= value <= 1:
        raise ValueError(f"judge score {value} is outside [0, 1]")
    return value
