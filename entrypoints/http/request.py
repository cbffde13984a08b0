"""The request class of the app: a JSON body is decoded with bounded nesting (issue 12)."""

from __future__ import annotations

from typing import Any

from litestar import Request

from domain.json_nesting import check_nesting, too_deep


class ClientRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        """Every ``JSONBody`` goes through here: deep nesting is a 400, never a
        ``RecursionError`` (a 500) in the decoder or in whatever walks the value later."""
        try:
            value = await super().json()
        except RecursionError:
            raise too_deep() from None
        return check_nesting(value)
