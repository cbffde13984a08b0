"""Errors of the receipt/invoice extraction domain."""

from __future__ import annotations

from domain.errors import DomainError, ErrorKind, NotFoundError


class UnknownTaskError(NotFoundError):
    """A task id that is not in the registry; ``details.available`` lists the known ids."""

    code = "unknown_task"


class InvalidModelOutputError(DomainError):
    """The model answered, but no JSON object could be recovered from its text."""

    kind = ErrorKind.UPSTREAM
    code = "invalid_model_output"


class TaskDefinitionError(DomainError):
    """A task folder is malformed (bad schema, prompt/key mismatch, missing file).

    Raised at load time, so a broken task stops the process at start-up
    instead of failing requests later.
    """

    kind = ErrorKind.INVALID
    code = "invalid_task_definition"
