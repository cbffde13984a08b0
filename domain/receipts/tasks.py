"""Extraction tasks are data: a prompt and a JSON Schema per folder (SPEC §6.1).

Layout of a tasks folder (the packaged one, and the optional ``TASKS_DIR``)::

    <task_id>/prompt.txt   the instruction sent with the image
    <task_id>/schema.json  draft 2020-12 JSON Schema of the answer
    <task_id>/task.json    {"description": "...", "checks": "receipt"|"invoice"|null}

Everything is read and verified once, at load time; a broken task fails start-up.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import msgspec

from domain.errors import InvalidInputError
from domain.receipts.checks import CHECK_PROFILES
from domain.receipts.errors import TaskDefinitionError, UnknownTaskError
from domain.receipts.prompt_keys import compare_prompt_keys
from domain.receipts.validation import check_schema

_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Task(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    description: str
    prompt: str
    json_schema: dict[str, Any]
    schema_name: str
    prompt_sha256: str
    schema_sha256: str
    checks: str | None = None


class _TaskMeta(msgspec.Struct, forbid_unknown_fields=True):
    description: str
    checks: str | None = None


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def schema_hash(schema: dict[str, Any]) -> str:
    """sha256 of the canonical JSON: sorted keys, no whitespace, UTF-8."""
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def make_task(
    task_id: str, description: str, prompt: str, schema: dict[str, Any], checks: str | None
) -> Task:
    return Task(
        task_id=task_id,
        description=description,
        prompt=prompt,
        json_schema=schema,
        # response_format names must match ^[a-zA-Z0-9_-]{1,64}$.
        schema_name=re.sub(r"[^A-Za-z0-9_-]", "_", task_id)[:64],
        prompt_sha256=prompt_hash(prompt),
        schema_sha256=schema_hash(schema),
        checks=checks,
    )


def with_overrides(
    task: Task, *, prompt: str | None = None, schema: dict[str, Any] | None = None
) -> Task:
    """A derived task for debug overrides; hashes are recomputed so artifacts tell them apart.

    A schema override must be a usable schema (``InvalidInputError`` otherwise); the
    prompt/key rule is not enforced on overrides, which exist to experiment.
    """
    if prompt is not None and not prompt.strip():
        raise InvalidInputError("prompt_override must not be empty")
    if schema is not None:
        check_schema(schema)
    return make_task(
        task.task_id,
        task.description,
        task.prompt if prompt is None else prompt,
        task.json_schema if schema is None else schema,
        task.checks,
    )


class TaskRegistry:
    def __init__(self, tasks: builtins.list[Task]) -> None:
        self._tasks = {t.task_id: t for t in sorted(tasks, key=lambda t: t.task_id)}

    def get(self, task_id: str) -> Task:
        task = self._tasks.get(task_id)
        if task is None:
            raise UnknownTaskError(
                f"unknown task_id {task_id[:64]!r}", details={"available": self.ids()}
            )
        return task

    def list(self) -> builtins.list[Task]:
        return builtins.list(self._tasks.values())

    def ids(self) -> builtins.list[str]:
        return builtins.list(self._tasks)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks

    def with_overrides(
        self, task: Task, *, prompt: str | None = None, schema: dict[str, Any] | None = None
    ) -> Task:
        return with_overrides(task, prompt=prompt, schema=schema)


def _fail(task_id: str, problem: str) -> TaskDefinitionError:
    return TaskDefinitionError(f"task {task_id!r}: {problem}", details={"task_id": task_id})


def _read(folder: Traversable, name: str, task_id: str) -> str:
    entry = folder.joinpath(name)
    if not entry.is_file():
        raise _fail(task_id, f"missing {name}")
    return entry.read_text(encoding="utf-8")


def _parse_json(text: str, name: str, task_id: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _fail(task_id, f"{name} is not valid JSON: {exc}") from None


def load_task(folder: Traversable) -> Task:
    task_id = folder.name
    if not _TASK_ID.fullmatch(task_id):
        raise _fail(task_id, f"folder name must match {_TASK_ID.pattern}")
    prompt = _read(folder, "prompt.txt", task_id).strip()
    if not prompt:
        raise _fail(task_id, "prompt.txt is empty")
    schema = _parse_json(_read(folder, "schema.json", task_id), "schema.json", task_id)
    try:
        check_schema(schema)
    except InvalidInputError as exc:
        raise _fail(task_id, f"schema.json: {exc.message}") from None
    try:
        meta = msgspec.convert(
            _parse_json(_read(folder, "task.json", task_id), "task.json", task_id), _TaskMeta
        )
    except msgspec.ValidationError as exc:
        raise _fail(task_id, f"task.json: {exc}") from None
    if meta.checks is not None and meta.checks not in CHECK_PROFILES:
        raise _fail(task_id, f"task.json: checks must be one of {sorted(CHECK_PROFILES)} or null")
    mismatch = compare_prompt_keys(prompt, schema)
    if not mismatch.ok:
        raise _fail(task_id, mismatch.describe())
    return make_task(task_id, meta.description, prompt, schema, meta.checks)


def _task_folders(root: Traversable) -> builtins.list[Traversable]:
    # Dot/underscore entries (".git", "__pycache__") are never tasks.
    return sorted(
        (e for e in root.iterdir() if e.is_dir() and not e.name.startswith((".", "_"))),
        key=lambda e: e.name,
    )


def packaged_tasks_dir() -> Traversable:
    return resources.files("domain.receipts").joinpath("tasks")


def load_task_registry(extra_dir: Path | None = None) -> TaskRegistry:
    """Packaged tasks plus those in ``extra_dir``; an id defined twice is an error."""
    roots: builtins.list[Traversable] = [packaged_tasks_dir()]
    if extra_dir is not None:
        if not extra_dir.is_dir():
            raise TaskDefinitionError(
                f"tasks directory {str(extra_dir)!r} does not exist or is not a directory",
                details={"tasks_dir": str(extra_dir)},
            )
        roots.append(extra_dir)
    tasks: dict[str, Task] = {}
    for root in roots:
        for folder in _task_folders(root):
            if folder.name in tasks:
                raise _fail(folder.name, "defined twice (packaged tasks and TASKS_DIR)")
            tasks[folder.name] = load_task(folder)
    return TaskRegistry(builtins.list(tasks.values()))
