"""Chat-completions wire format: the answer text and the token usage."""

from __future__ import annotations

from typing import Any

from application.ports.chat import TokenUsage


class MalformedResponse(ValueError):
    """A 2xx answer whose body is not a chat completion with text content."""


def message_text(payload: Any) -> str:
    """``choices[0].message.content``: a string, or the text parts of a list, joined."""
    try:
        message = payload["choices"][0]["message"]
        content = message["content"]
    except (KeyError, IndexError, TypeError):
        raise MalformedResponse("response has no choices[0].message.content") from None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") in ("text", "output_text", None)
            and isinstance(part.get("text"), str)
        ]
        if parts:
            return "".join(parts)
    if content is None and isinstance(message, dict) and message.get("refusal"):
        raise MalformedResponse("the model refused to answer")
    raise MalformedResponse(f"message content is {type(content).__name__}, not text")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_of(payload: Any) -> TokenUsage:
    """``usage`` → ``TokenUsage``; absent or odd fields count 0 (some servers send no usage)."""
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if not isinstance(usage, dict):
        return TokenUsage()
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    prompt = _count(usage.get("prompt_tokens"))
    return TokenUsage(
        input_tokens=prompt,
        cached_input_tokens=min(cached, prompt),
        output_tokens=_count(usage.get("completion_tokens")),
    )


def answered_model(payload: Any, requested: str) -> str:
    model = payload.get("model") if isinstance(payload, dict) else None
    return model if isinstance(model, str) and model else requested
