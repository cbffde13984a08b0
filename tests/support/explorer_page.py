"""What an HTML page of the OpenAPI explorer asks the browser to fetch."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

# The attributes a browser follows on load: scripts, stylesheets and icons, images, frames.
_FETCHED = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src"}


class _AssetCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = _FETCHED.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def referenced_assets(html: str) -> list[str]:
    collector = _AssetCollector()
    collector.feed(html)
    collector.close()
    return collector.urls


def off_host(url: str, page_url: str) -> bool:
    """A reference the browser would resolve to another origin (or a protocol-relative one)."""
    page, target = urlsplit(page_url), urlsplit(urljoin(page_url, url))
    return (target.scheme, target.netloc) != (page.scheme, page.netloc)
