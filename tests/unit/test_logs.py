import base64
import io
import json
import logging

from application.request_context import current_request_id
from entrypoints.logs import configure_logging, redact, register_secret


def test_json_lines_carry_request_id_event_and_fields() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    token = current_request_id.set("req-1")
    try:
        logging.getLogger("ocr.test").info("hello", extra={"event": "thing_done", "count": 3})
    finally:
        current_request_id.reset(token)
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert line["msg"] == "hello" and line["event"] == "thing_done" and line["count"] == 3
    assert line["request_id"] == "req-1" and line["logger"] == "ocr.test" and line["level"] == "INFO"
    assert line["ts"].endswith("Z")


def test_redaction_masks_secrets_bearer_tokens_and_base64_blobs() -> None:
    register_secret("sup3r-secret-value")
    blob = base64.b64encode(bytes(range(256)) * 4).decode()
    text = redact(f"key sup3r-secret-value header Authorization: Bearer abc.DEF-123 image {blob}")
    assert "sup3r-secret-value" not in text and "abc.DEF-123" not in text and blob[:100] not in text


def test_short_values_are_not_registered_as_secrets() -> None:
    register_secret("ab")
    assert redact("ab cd") == "ab cd"
