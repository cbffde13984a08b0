"""uvicorn's HTTP/1.1 protocol, answering what its parser refuses with the SPEC §4 envelope.

A request the parser cannot read never reaches the app, so uvicorn answers it itself with a
plain-text 400. The realistic case is a long request target: httptools parses the URL with
16-bit offsets, so a target over 65,535 bytes cannot be parsed at all, and no setting raises
that. Those requests, and any other the parser refuses, get the envelope here — a 400
``bad_request`` with a fresh request id (the request's own headers were never read), logged
with that id — and the connection is closed, as uvicorn does. httptools is what uvicorn's
``auto`` picks with ``uvicorn[standard]``, a dependency of this package."""

from __future__ import annotations

import logging

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from domain.ids import new_id

logger = logging.getLogger("ocr.http")

MAX_TARGET_BYTES = 65_535


def refusal(target_length: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The envelope body and its headers for a request the parser refused."""
    request_id = new_id()
    if target_length > MAX_TARGET_BYTES:
        message = f"the request target is longer than {MAX_TARGET_BYTES} bytes"
        details: dict[str, object] = {"max_target_bytes": MAX_TARGET_BYTES}
    else:
        message, details = "the request is not valid HTTP/1.1", {}
    logger.warning("request refused by the HTTP parser", extra={
        "event": "http_parse_error", "request_id": request_id, "reason": message})
    body = msgspec.json.encode({"error": {"code": "bad_request", "message": message, "request_id": request_id,
                                          "details": details}})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"x-request-id", request_id.encode()), (b"connection", b"close")]
    return body, headers


class TargetTooLongError(Exception):
    pass


class EnvelopeHttpToolsProtocol(HttpToolsProtocol):
    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_TARGET_BYTES:  # refused as soon as it is known, not buffered to the end
            raise TargetTooLongError  # the parser turns it into an HttpParserError: a 400 below

    def send_400_response(self, msg: str) -> None:
        body, headers = refusal(len(getattr(self, "url", b"")))  # the target as far as it was read
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in [*self.server_state.default_headers, *headers]:
            head += [name, b": ", value, b"\r\n"]
        self.transport.write(b"".join([*head, b"\r\n", body]))
        self.transport.close()
