"""The built-in offline model: a deterministic stand-in so quickstarts, examples and tests run with no
API key and no network. It is not a language model; it writes formulaic answers from the request's words.

- Chat: a recipe-shaped answer (Overview / Ingredients / Instructions, metric and US units) that repeats
  the request's key words, or a JSON object when the system message asks for JSON.
- Judge prompts (plg's llm_judge format): a JSON score, the share of rubric words found in the graded text.
- Embeddings: a hashed bag of words, L2-normalised, so texts sharing words have a high cosine.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from typing import Any

OFFLINE_MODEL = "plg/offline"
OFFLINE_EMBEDDING_MODEL = "plg/offline-embed"
JUDGE_MARKER = "You are grading an AI response against a rubric."
PLACEHOLDER_LABEL = "offline placeholder"
PLACEHOLDER_WARNING = (
    f"judge scores marked ({PLACEHOLDER_LABEL}) come from {OFFLINE_MODEL}, a stand-in that counts rubric "
    "words: they are not a judgement (give the judge a real model: docs/evals.md, 'A real judge')"
)
EMBED_DIMS = 256
_WORD = re.compile(r"[A-Za-z0-9]+")
_STOP = set(
    "the a an and or of to in for with on is are be that this it as by at from your you me my i we write give"
    " please about tell mentions has have gives includes contains uses should must response answer".split()
)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def key_words(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for word in words(text):
        if word not in _STOP and len(word) > 2:
            seen.setdefault(word, None)
    return list(seen)


def offline_reply(messages: Sequence[dict[str, str]]) -> str:
    system = " ".join(m.get("content", "") for m in messages if m.get("role") == "system")
    user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    if JUDGE_MARKER in system:
        return judge_reply(user)
    if "json" in system.lower():
        return json.dumps(_json_answer(user, system))
    return _prose_answer(user)


def _prose_answer(user: str) -> str:
    topic = user.strip().splitlines()[0] if user.strip() else "your request"
    keys = key_words(user)[:12]
    digest = int(hashlib.sha256(user.encode()).hexdigest()[:8], 16)
    grams = 200 + digest % 300
    return (
        f"Overview\n{topic}\nKey points: {', '.join(keys) or 'none'}.\n\n"
        f"Ingredients\n- {grams} g ({grams / 28.35:.1f} oz) of the main ingredient\n"
        f"- 250 ml (1 cup) of liquid\n\n"
        f"Instructions\n1. Prepare everything for: {' '.join(keys[:6]) or 'the task'}.\n"
        "2. Combine, cook or write it up step by step.\n3. Check the result and serve.\n"
        "All quantities are given in metric and US units.\n"
        "(plg/offline is a deterministic stand-in model, not a real LLM.)"
    )


def _json_answer(user: str, system: str) -> dict[str, str]:
    answer: dict[str, str] = {}
    text = user.lower()
    for match in re.finditer(r'"(\w+)"\s*:\s*((?:"[^"]+"\s*\|?\s*)+)', system):
        key, choices = match.group(1), re.findall(r'"([^"]+)"', match.group(2))
        picked = next((c for c in choices if c.lower() in text), None)
        if picked is None and choices:
            picked = choices[int(hashlib.sha256(user.encode()).hexdigest(), 16) % len(choices)]
        answer[key] = picked or ""
    answer["summary"] = user.strip().splitlines()[0][:120] if user.strip() else ""
    return answer


def judge_reply(user: str) -> str:
    """Score = share of the rubric's key words that appear in the graded response."""
    rubric, _, response = user.partition("<response>")
    response = response.split("</response>")[0]
    wanted = key_words(rubric.split("<rubric>")[-1].split("</rubric>")[0])
    have = set(words(response))
    found = [w for w in wanted if w in have]
    score = round(len(found) / len(wanted), 3) if wanted else 1.0
    missing = [w for w in wanted if w not in have][:8]
    reason = f"{PLACEHOLDER_LABEL}, not a judgement: found {len(found)} of {len(wanted)} rubric terms" + (
        f"; missing: {', '.join(missing)}" if missing else ""
    )
    return json.dumps({"score": score, "reason": reason})


def placeholder_name(name: str) -> str:
    """A scorer's name as every table shows it when its figures came from the offline judge."""
    return f"{name} ({PLACEHOLDER_LABEL})"


def offline_embedding(text: str) -> list[float]:
    vector = [0.0] * EMBED_DIMS
    for word in words(text):
        digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
        index = int.from_bytes(digest[:2], "little") % EMBED_DIMS
        vector[index] += 1.0 if digest[2] & 1 else -1.0
    norm = math.hypot(*vector)
    return [v / norm for v in vector] if norm else vector


def token_count(text: str) -> int:
    return max(1, len(text) // 4)


def litellm_handler(litellm: Any) -> Any:
    """The offline model as a litellm custom provider (`plg/...`), for code that calls litellm itself;
    plg's own calls answer it in-process without litellm. Takes the module: only provider.py imports it."""

    class OfflineLLM(litellm.CustomLLM):  # type: ignore[misc,name-defined]
        def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
            text = offline_reply(messages)
            prompt_tokens = sum(token_count(str(m.get("content", ""))) for m in messages)
            return litellm.ModelResponse(
                model=OFFLINE_MODEL,
                choices=[
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                usage={
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": token_count(text),
                    "total_tokens": prompt_tokens + token_count(text),
                },
            )

        async def acompletion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
            return self.completion(model, messages)

        def embedding(self, model: str, input: list, model_response: Any, *args: Any, **kwargs: Any) -> Any:
            model_response.data = [
                {"object": "embedding", "index": i, "embedding": offline_embedding(str(t))}
                for i, t in enumerate(input)
            ]
            model_response.model = OFFLINE_EMBEDDING_MODEL
            return model_response

        async def aembedding(
            self, model: str, input: list, model_response: Any, *args: Any, **kwargs: Any
        ) -> Any:
            return self.embedding(model, input, model_response)

    return OfflineLLM()
