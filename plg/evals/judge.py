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


def parse_judgement(text: str) -> tuple[float, str]:
    """Accepts JSON (bare, fenced or inside prose), 'score: 0.8', '8/10', '4 out of 5' and percentages;
    raises ValueError when no score can be found so the caller records a row error."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [m.group(0) for m in _OBJECT.finditer(text)]
    for candidate in [text.strip(), *candidates]:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict) and "score" in data:
            return _normalise(float(data["score"]), None), str(data.get("reason", "")).strip()
    fraction = _FRACTION.search(text)
    if fraction:
        return _normalise(float(fraction.group(1)), float(fraction.group(2))), text.strip()[:300]
    labelled = _LABELLED.search(text)
    if labelled:
        value = float(labelled.group(1))
        return _normalise(value, 100.0 if labelled.group(2) else None), text.strip()[:300]
    raise ValueError(f"no score in judge answer: {text.strip()[:80]!r}")


def _normalise(value: float, scale: float | None) -> float:
    if scale:
        value = value / scale
    elif value > 1:
        value = value / 10 if value <= 10 else value / 100
    if not 0 <= value <= 1:
        raise ValueError(f"judge score {value} is outside [0, 1]")
    return value
