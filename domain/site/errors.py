"""Errors of the site-analysis domain."""

from __future__ import annotations

from domain.receipts.errors import InvalidModelOutputError


class AnswerParseError(InvalidModelOutputError):
    """The chat model answered, but not in the template (a required tag is missing).

    Kind UPSTREAM, code ``invalid_model_output``: the HTTP layer answers 502 and a
    downstream writer may retry. ``reason`` (also ``details["reason"]``) says why.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"unparseable answer: {reason}", details={"reason": reason})
        self.reason = reason
