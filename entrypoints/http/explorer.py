"""The OpenAPI explorer at ``/schema``: Swagger UI from assets the service serves itself.

Litestar's render plugins load their scripts from public CDNs (Scalar unpinned at ``@latest``),
so the page was blank wherever the service runs without internet. The assets are vendored from
the npm package ``swagger-ui-dist`` at the version below (ADR 0097; refreshed with
``scripts/vendor-swagger-ui.sh``) and shipped as package data.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

SWAGGER_UI_VERSION = "5.35.0"
ASSETS_DIR = Path(__file__).with_name("static") / "swagger-ui"
# The version in the URL lets a browser cache an asset for good: a new version is a new URL.
ASSETS_PATH = f"/schema/assets/swagger-ui-{SWAGGER_UI_VERSION}"


def explorer_assets() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH, directories=[ASSETS_DIR], name="swagger-ui-assets", include_in_schema=False,
        cache_control=CacheControlHeader(max_age=365 * 24 * 3600, public=True),
    )


def explorer_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI, also the page at ``/schema`` itself (the first plugin is the default)."""
    return [SwaggerRenderPlugin(
        path="/swagger",
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )]
