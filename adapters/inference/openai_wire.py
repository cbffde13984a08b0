"""OpenAI-compatible chat-completions wire format: the request body and the answer text."""

from __future__ import annotations

import base64
from typing import Any, Literal

ResponseFormatStyle = Literal["json_schema", "json_object"]



class MalformedResponse(ValueError):
    """A 2xx answer whose body is not a chat completion with text content."""


def normalise_base_url(base_url: str) -> str:
    """``http://host:8000``, ``…/``, ``…/v1`` and ``…/v1/`` all become ``…/v1``."""
    url = base_url.strip().rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


def response_format(
    style: ResponseFormatStyle, name: str, schema: dict[str, Any]
) -> dict[str, Any]:
    if style == "json_object":
        # llama.cpp's server rejects json_schema but constrains output with this shape.
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def chat_body(
    *,
    model: str,
    prompt: str,
    image: bytes,
    mime_type: str,
    temperature: float,
    max_tokens: int,
    schema_name: str,
    schema: dict[str, Any],
    style: ResponseFormatStyle,
) -> dict[str, Any]:
    data_uri = f"data:{mime_type};base64,{base64.b64encode(image).decode('ascii')}"
    return {
        "model": model,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt},
                    {"type": "image_url", "image_url": {"url": data_uri}},
                ],
            }
        ],
        "temperature": temperature,
        "max_tokens": max_tokens,
        "response_format": response_format(style, schema_name, schema),
    }


def message_text(payload: Any) -> str:
    """Text of ``choices[0].message.content``: a string, or the text parts of a list, joined."""
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise MalformedResponse("response has no choices[0].message.content") from None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") in ("text", None)
            and isinstance(part.get("text"), str)
        ]
        if parts:
            return "".join(parts)
    raise MalformedResponse(f"message content is {type(content).__name__}, not text")
