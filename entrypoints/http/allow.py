"""OPTIONS for a path served by several handlers lists every method the path allows.

Litestar 2 builds a path's OPTIONS answer when its first handler is registered and keeps it
when more are added, so `OPTIONS /v1/ground_truths/{gt_id}` said `GET, OPTIONS` although PUT
and DELETE exist (litestar-org/litestar#4169, fixed only in v3). An explicit OPTIONS handler
registered before the others takes its place and reads the methods of the route as built.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from litestar import Request, Response, route
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute


def _allowed_methods(request: Request) -> Response[None]:
    template = request.scope["path_template"]
    methods = {method for r in request.app.routes
               if isinstance(r, HTTPRoute) and r.path_format == template for method in r.methods}
    return Response(None, status_code=204, headers={"Allow": ", ".join(sorted(methods))})


def with_options(handlers: Sequence[HTTPRouteHandler]) -> list[HTTPRouteHandler]:
    """The handlers, preceded by one OPTIONS handler for the paths two or more of them share."""
    counts = Counter(path for handler in handlers for path in handler.paths)
    shared = sorted(path for path, n in counts.items() if n > 1)
    if not shared:
        return list(handlers)
    options = route(shared, http_method=HttpMethod.OPTIONS, include_in_schema=False,
                    sync_to_thread=False)(_allowed_methods)
    return [options, *handlers]
