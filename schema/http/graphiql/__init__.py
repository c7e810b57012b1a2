"""GraphiQL served by the API itself: the page and its scripts and styles, with no CDN.

strawberry's page loads React and GraphiQL from unpkg.com, so it stays blank on an offline or
locked-down network. This page is strawberry's, pointed at copies served under ``/assets/``.

The copies are **vendored**: committed under ``assets/`` (about 4 MB, 1.1 MB once compressed by
git), byte for byte the files of the npm packages below, each pinned here by its SRI hash. We
weighed fetching them at install time instead (``npm ci`` over a committed lockfile): it keeps
minified bundles out of the repository, but then ``pip install .`` alone yields a blank page,
and the production image (``docker/Dockerfile``, a Python image with no Node.js), a wheel, and
an install on the very networks this is for would each need npm and the registry. Vendored
files need neither; they change only when we upgrade GraphiQL, which is rare.

The pins are the hashes strawberry 0.341's own page pins for the same unpkg URLs (unpkg serves
the npm tarball's files). To upgrade: ``npm pack <package>@<version>``, copy the file out of the
tarball (npm checks the tarball against the registry's sha512), and pin its hash here:
``echo sha384-$(openssl dgst -sha384 -binary FILE | base64 -w0)``. ``tests/test_graphiql.py``
checks each file against its pin; a file that does not match would be refused by the browser.
Licences (MIT) are kept beside the files; @graphiql/plugin-explorer ships none in its package
and is MIT by its package.json, copyright GraphQL Contributors like graphiql.

The page carries a Content-Security-Policy that lets it load and connect to its own origin
only, so even a later edit cannot make it reach a third-party host unnoticed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

HERE = Path(__file__).parent
ASSETS_DIR = HERE / "assets"
PREFIX = "/assets/"


@dataclass(frozen=True)
class Asset:
    """One vendored file: its path under ``assets/`` (``<npm package>@<version>/<file>``) and
    the SRI hash of its bytes."""

    path: str
    integrity: str

    @property
    def url(self) -> str:
        return PREFIX + self.path

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[Path(self.path).suffix]


# In the order the page loads them: GraphiQL and the explorer need React as globals.
ASSETS = (
    Asset(
        "graphiql@3.8.3/graphiql.min.css",
        "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
    ),
    Asset(
        "@graphiql/plugin-explorer@1.0.2/style.css",
        "sha384-5DFJlDPW2tSATRbM8kzoP1j194jexLswuNmClWoRr2Q0x7R68JIQzPHZ02Faktwi",
    ),
    Asset(
        "react@18.2.0/react.production.min.js",
        "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
    ),
    Asset(
        "react-dom@18.2.0/react-dom.production.min.js",
        "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh",
    ),
    Asset(
        "graphiql@3.8.3/graphiql.min.js",
        "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
    ),
    Asset(
        "@graphiql/plugin-explorer@1.0.2/index.umd.js",
        "sha384-2oonKe47vfHIZnmB6ZZ10vl7T0Y+qrHQF2cmNTaFDuPshpKqpUMGMc9jgj9MLDZ9",
    ),
)
_BY_PATH = {asset.path: asset for asset in ASSETS}
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# A URL names a package version, whose files never change: a browser keeps them for a year.
_ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Vary": "Accept-Encoding",
}


def sri(data: bytes) -> str:
    """The Subresource Integrity value of ``data`` (sha384), as browsers check it."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def _tag(asset: Asset) -> str:
    if asset.path.endswith(".css"):
        return f'<link rel="stylesheet" href="{asset.url}" integrity="{asset.integrity}" />'
    return f'<script src="{asset.url}" integrity="{asset.integrity}"></script>'


def _page() -> tuple[str, str]:
    """The page's HTML and its Content-Security-Policy (allowing its one inline script)."""
    html = (HERE / "page.html").read_text(encoding="utf-8")
    tags = "\n    ".join(_tag(asset) for asset in ASSETS)
    html = html.replace("<!-- assets -->", tags)
    inline = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    script_hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in inline
    )
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {script_hashes}",
            # React and CodeMirror set inline styles.
            "style-src 'self' 'unsafe-inline'",
            "font-src 'self' data:",
            "img-src 'self' data:",
            # The fetcher and the subscriptions' websocket: this origin only.
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return html, policy


PAGE, CONTENT_SECURITY_POLICY = _page()


def page_response() -> Response:
    """The GraphiQL page, as the GraphQL endpoint answers a browser's GET."""
    return HTMLResponse(
        PAGE,
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )


@cache
def _body(path: str, compressed: bool) -> bytes:
    data = (ASSETS_DIR / path).read_bytes()
    # Compressed once per process: graphiql.min.js is 3.5 MB, 0.7 MB gzipped.
    return gzip.compress(data, compresslevel=9, mtime=0) if compressed else data


async def asset(request: Request) -> Response:
    """A vendored file by its path; anything else under /assets/ is a 404."""
    found = _BY_PATH.get(request.path_params["path"])
    if found is None:
        return PlainTextResponse("Not found", status_code=404)
    accepts_gzip = "gzip" in request.headers.get("accept-encoding", "")
    headers = dict(_ASSET_HEADERS)
    if accepts_gzip:
        headers["Content-Encoding"] = "gzip"
    body = await run_in_threadpool(_body, found.path, accepts_gzip)
    return Response(body, media_type=found.media_type, headers=headers)


route = Route(PREFIX + "{path:path}", asset, methods=["GET", "HEAD"])
