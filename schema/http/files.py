"""The download route: a signed link serves its file as an attachment, anything else is 404."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from presta import storage
from resolvers.account import authenticate
from resolvers.actor import Actor
from resolvers.document import open_download
from resolvers.errors import AuthError


async def download(request: Request) -> Response:
    try:
        presenter = await _presenter(request)
    except AuthError:
        return _not_found()
    document = await open_download(request.path_params["token"], presenter=presenter)
    if document is None:
        return _not_found()
    return FileResponse(
        storage.path_of(document.storage_key),
        media_type=document.content_type,
        filename=document.filename,
        content_disposition_type="attachment",
        headers=_HEADERS,
    )


async def _presenter(request: Request) -> Actor | None:
    """Who follows the link, when the request carries credentials (a browser link does not)."""
    bearer = request.headers.get("authorization", "")
    api_key = request.headers.get("x-api-key")
    token = bearer[7:].strip() if bearer[:7].lower() == "bearer " else None
    if token is None and not api_key:
        return None
    return await authenticate(bearer=token, api_key=api_key, marketplace_id=None)


def _not_found() -> Response:
    # Bad, expired and foreign links look alike.
    return PlainTextResponse("Not found", status_code=404, headers=_HEADERS)


_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}

route = Route("/files/{token}", download, methods=["GET"])
