"""The OpenAPI explorer works offline (issue 14): every asset its pages reference is served by
the service itself, pinned, with the right content type; nothing is loaded from another host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from entrypoints.http.explorer import ASSETS_DIR, ASSETS_PATH, SWAGGER_UI_VERSION
from tests.api.conftest import Api
from tests.support.explorer_page import off_host, referenced_assets

CONTENT_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",),
                 ".png": ("image/png",)}


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_every_asset_of_the_explorer_is_served_by_the_service(api: Api, page: str) -> None:
    r = api.client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assets = referenced_assets(r.text)
    page_url = str(r.url)
    assert [url for url in assets if off_host(url, page_url)] == []
    assert len(assets) == 4  # stylesheet, bundle, standalone preset, favicon
    for url in assets:
        asset = api.client.get(url)
        assert asset.status_code == 200, url
        suffix = url[url.rfind("."):]
        assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], url
        assert asset.content == (ASSETS_DIR / url.rsplit("/", 1)[1]).read_bytes()


def test_the_page_names_no_other_host_at_all(api: Api) -> None:
    """Beyond tags: nothing around the inline document (which may quote URLs) names a host."""
    html = api.client.get("/schema/swagger").text
    before, _, rest = html.partition("spec: ")
    _, _, after = rest.partition("dom_id:")
    assert before and after and "://" not in before + after


def test_the_vendored_assets_are_the_pinned_version(api: Any) -> None:
    assert json.loads((ASSETS_DIR / "package.json").read_text())["version"] == SWAGGER_UI_VERSION
    assert ASSETS_PATH.endswith(f"swagger-ui-{SWAGGER_UI_VERSION}")
    r = api.client.get(f"{ASSETS_PATH}/swagger-ui-bundle.js")
    assert "max-age=31536000" in r.headers["cache-control"]


def test_an_unknown_asset_is_a_404_and_the_assets_stay_out_of_the_document(api: Api) -> None:
    assert api.client.get(f"{ASSETS_PATH}/nope.js").status_code == 404
    assert api.client.get("/schema/scalar").status_code == 404  # the CDN-loaded page is gone
    assert api.client.get(f"{ASSETS_PATH}/..%2F..%2Fexplorer.py").status_code == 404
    paths = api.client.get("/schema/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/schema")]


def test_the_document_lets_the_explorer_send_a_key(api: Api) -> None:
    """What the Authorize dialog offers: a bearer token and an X-API-Key header, on every
    guarded operation."""
    doc = api.client.get("/schema/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <api_key>"}
    assert schemes["api_key"] == {"type": "apiKey", "name": "X-API-Key", "in": "header"}
    assert doc["paths"]["/v1/tasks"]["get"]["security"] == [{"bearer": []}, {"api_key": []}]


def test_an_installed_wheel_ships_every_vendored_asset() -> None:
    import tomllib

    import entrypoints.http

    root = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = Path(entrypoints.http.__file__).parent
    shipped = {path for pattern in globs["entrypoints.http"] for path in package.glob(pattern)}
    assert set(ASSETS_DIR.iterdir()) <= shipped
