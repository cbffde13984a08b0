from __future__ import annotations

from functools import cache
from typing import Any

from domain.receipts.tasks import TaskRegistry, load_task_registry


@cache
def _registry() -> TaskRegistry:
    return load_task_registry()


def task_schema(task_id: str) -> dict[str, Any]:
    return _registry().get(task_id).json_schema
