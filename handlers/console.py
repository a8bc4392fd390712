"""The office's PC console (PC端): the pages in `console/`, served at `/console/`, which call the same JSON API.

The console is our own HTML, CSS and JavaScript modules, with no build step and nothing from a CDN: a town's
government network reaches no internet. The files are read once, when the application is built (`make_app`),
into a table; a request names
one of them or gets a 404, so no path from a URL ever reaches the file system. Its pages carry a strict
Content-Security-Policy (scripts from this server only, never inline), and the API it calls takes tokens in a
header, so there is no cookie for another site to ride on.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from handlers.base import BaseHandler, public
from server.core.errors import NotFound

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
# Scripts and styles from this server only (no inline script, no eval); images from the API as blobs (the
# attachments and the QR codes are fetched with the token); PDFs shown in a frame from a blob.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
    "font-src 'self'; frame-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(idle_minutes: int, root: Path = CONSOLE_DIR) -> dict[str, Asset]:
    """Every file under `root`, by its path relative to it, and the page itself under "" (read once, when
    the application is built)."""
    assets = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            body = path.read_bytes()
            kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            assets[path.relative_to(root).as_posix()] = Asset(body, kind, hashlib.sha256(body).hexdigest()[:32])
    assets[""] = index_page(assets, idle_minutes)
    return assets


def index_page(assets: dict[str, Asset], idle_minutes: int) -> Asset:
    """`index.html` with the staff idle limit filled in (the page signs out after it, as the server does)."""
    page = assets["index.html"].body.replace(b"{{idle_minutes}}", str(idle_minutes).encode())
    return Asset(page, assets["index.html"].content_type, hashlib.sha256(page).hexdigest()[:32])


class ConsoleHandler(BaseHandler):
    """One of the console's files; `/console/` is its page. Revalidated by ETag on every load, so a new
    release reaches every desk at its next refresh."""

    documented_elsewhere = True  # pages, not API: README "The PC console"
    uses_database = False

    @public
    async def get(self, path: str) -> None:
        asset = self.settings["console_assets"].get(path)
        if asset is None or path == "index.html":
            raise NotFound("没有这个页面", code="no_such_page")
        self.set_header("Content-Type", asset.content_type)
        self.set_header("Cache-Control", "no-cache")
        if not path:
            self.set_header("Content-Security-Policy", CONSOLE_CSP)
        self.set_header("Etag", f'"{asset.etag}"')
        if self.check_etag_header():
            self.set_status(304)
            return
        self.write(asset.body)

    def compute_etag(self) -> str | None:
        return None  # set from the file's own hash, not from the body written


class ConsoleRedirect(BaseHandler):
    documented_elsewhere = True
    uses_database = False

    @public
    async def get(self) -> None:
        self.redirect("/console/", permanent=False)


default_handlers = [
    (r"/console", ConsoleRedirect),
    (r"/console/(?P<path>[A-Za-z0-9_./-]*)", ConsoleHandler),
]
