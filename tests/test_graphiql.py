"""GraphiQL without a CDN: the page names only its own vendored files, each pinned by its SRI
hash, and a route serves them with their content types and long cache headers.
(The page in a real browser: tests/test_graphiql_browser.py.)"""

from __future__ import annotations

import re

from schema.http import graphiql
from tests.support.graphql import http_client


def test_every_vendored_file_has_the_bytes_its_pin_names():
    for asset in graphiql.ASSETS:
        data = (graphiql.ASSETS_DIR / asset.path).read_bytes()
        assert graphiql.sri(data) == asset.integrity, asset.path


def test_every_script_and_style_in_the_assets_folder_is_pinned():
    on_disk = {
        str(path.relative_to(graphiql.ASSETS_DIR))
        for path in graphiql.ASSETS_DIR.rglob("*")
        if path.suffix in (".js", ".css")
    }
    assert on_disk == {asset.path for asset in graphiql.ASSETS}


async def test_the_page_loads_each_asset_from_this_origin_with_its_integrity():
    async with http_client() as client:
        response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    page = response.text
    for asset in graphiql.ASSETS:
        assert f'"{asset.url}" integrity="{asset.integrity}"' in page
    # Nothing is fetched from elsewhere: every src and href is local or inline data.
    references = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert len(references) == len(graphiql.ASSETS) + 1  # + the favicon
    assert all(ref.startswith(("/assets/", "data:")) for ref in references), references
    assert "unpkg.com" not in page
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy


async def test_assets_are_served_with_their_content_type_and_cached_for_a_year():
    script, style = graphiql.ASSETS[-1], graphiql.ASSETS[0]
    async with http_client() as client:
        js = await client.get(script.url, headers={"Accept-Encoding": "identity"})
        css = await client.get(style.url, headers={"Accept-Encoding": "gzip"})
    assert js.status_code == 200
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert js.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert js.headers["x-content-type-options"] == "nosniff"
    assert "content-encoding" not in js.headers
    assert graphiql.sri(js.content) == script.integrity

    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert css.headers["content-encoding"] == "gzip"
    # httpx decodes the body: the browser checks integrity on the decoded bytes too.
    assert graphiql.sri(css.content) == style.integrity
    assert int(css.headers["content-length"]) < len(css.content)


async def test_anything_else_under_assets_is_not_found():
    async with http_client() as client:
        for path in (
            "/assets/graphiql@3.8.3/LICENSE",
            "/assets/graphiql@3.8.3/graphiql.min.js.map",
            "/assets/../page.html",
            "/assets/",
        ):
            assert (await client.get(path)).status_code == 404, path
