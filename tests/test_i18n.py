"""French and English: every text has its French translation, the catalogue follows the
code, userErrors are read in the caller's language and e-mails in the recipient's."""

from __future__ import annotations

import ast
import string
from datetime import UTC, date, datetime
from email import message_from_bytes
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from presta.i18n import CATALOGUES, Text, _, day, hour, negotiate, ngettext
from presta.mail import Letter, Link, _message
from presta.settings import settings
from tests.factories.account import actor_of, make_user
from tests.support.graphql import execute, http_client

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "presta", "resolvers", "schema", "service", "workers")
FRENCH = CATALOGUES / "fr" / "LC_MESSAGES" / "messages.po"


def _source_msgids() -> set[str]:
    found: set[str] = set()
    for package in PACKAGES:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / package, method_map=[("**.py", "python")], keywords=DEFAULT_KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def _french() -> dict[str, tuple[str, ...]]:
    """Each msgid (the singular of a plural) and its translations; none when fuzzy."""
    with FRENCH.open("rb") as po:
        catalog = read_po(po, locale="fr")
    return {
        (m.id if isinstance(m.id, str) else m.id[0]): (
            () if m.fuzzy else (m.string,) if isinstance(m.string, str) else tuple(m.string or ())
        )
        for m in catalog
        if m.id
    }


def _fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


def test_every_text_of_the_code_has_a_french_translation():
    french = _french()
    untranslated = sorted(m for m in _source_msgids() if not (french.get(m) and all(french[m])))
    assert untranslated == [], "run `make messages` and translate these in " + str(FRENCH)


def test_the_french_catalogue_is_not_stale():
    """Texts gone from the code are gone from the catalogue (`make messages`)."""
    assert sorted(set(_french()) - _source_msgids()) == []


def test_translations_use_the_placeholders_of_their_source():
    with FRENCH.open("rb") as po:
        catalog = read_po(po, locale="fr")
    for message in catalog:
        if not message.id:
            continue
        sources = [message.id] if isinstance(message.id, str) else list(message.id)
        expected = set().union(*(_fields(s) for s in sources)) - {"n"}
        strings = (
            [message.string] if isinstance(message.string, str) else list(message.string or ())
        )
        for translated in strings:
            assert _fields(translated) - {"n"} <= expected | {"n"}, message.id
            assert expected <= _fields(translated) | {"n"}, message.id


def test_a_text_renders_in_each_locale_with_translated_values():
    text = _("{what} not found.", what=_("Membership"))
    assert text.render("fr") == "Prestataire introuvable."
    assert text.render("en") == "Membership not found."
    assert str(text) == "Membership not found."  # outside an operation: the source language


def test_plural_forms_follow_the_number():
    assert ngettext("{n} day", "{n} days", 1).render("en") == "1 day"
    assert ngettext("{n} day", "{n} days", 14).render("en") == "14 days"


def test_accept_language_picks_the_first_language_we_speak():
    assert negotiate("de-DE,en;q=0.8,fr;q=0.5") == "en"
    assert negotiate("fr-CA, en;q=0.9") == "fr"
    assert negotiate("de, it") is None
    assert negotiate("en;q=0, fr;q=0.1") == "fr"
    assert negotiate(None) is None


def test_a_letter_has_a_plain_text_and_an_escaped_html_part():
    letter = Letter(
        subject=_("{what} not found.", what="<Acme & co>"),
        paragraphs=[
            Text("{name} <b>", {"name": 'O\'Neil & "Sons"'}),
            Link("https://x.test/?a=1&b=<2>"),
        ],
    )
    mail = letter.to("someone@example.test", "fr")
    assert mail.subject == "<Acme & co> introuvable."
    assert mail.body.startswith('Bonjour,\n\nO\'Neil & "Sons" <b>\n\nhttps://x.test/?a=1&b=<2>')
    assert mail.html is not None
    assert "<b>" not in mail.html
    assert "O&#x27;Neil &amp; &quot;Sons&quot; &lt;b&gt;" in mail.html
    assert '<a href="https://x.test/?a=1&amp;b=&lt;2&gt;">' in mail.html
    assert '<html lang="fr">' in mail.html
    parsed = message_from_bytes(_message(settings(), mail).as_bytes())
    assert parsed.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in parsed.get_payload()]  # type: ignore[union-attr]
    assert kinds == ["text/plain", "text/html"]


UPDATE_PROFILE = """
mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { userErrors { field code message } user { locale fullName } }
}"""


async def test_user_errors_are_in_french_unless_the_user_chose_english():
    user = await make_user()
    actor = await actor_of(user)
    long_name = {"input": {"fullName": "x" * 201}}
    french = await execute(UPDATE_PROFILE, long_name, actor=actor)
    assert french.data["updateProfile"]["userErrors"][0]["message"] == "Le nom est trop long."

    chose = await execute(UPDATE_PROFILE, {"input": {"locale": "EN"}}, actor=actor)
    assert chose.data["updateProfile"]["user"] == {"locale": "EN", "fullName": user.full_name}
    actor = await actor_of(user)  # as the next request authenticates it
    english = await execute(UPDATE_PROFILE, long_name, actor=actor)
    assert english.data["updateProfile"]["userErrors"][0]["message"] == "Name is too long."


async def test_an_anonymous_caller_reads_errors_in_the_language_of_accept_language():
    login = (
        'mutation { logIn(input: {email: "nobody@example.test", password: "wrong password"}) '
        "{ userErrors { message } } }"
    )
    async with http_client() as client:
        english = await client.post(
            "/graphql", json={"query": login}, headers={"Accept-Language": "en-GB,en;q=0.9"}
        )
        french = await client.post("/graphql", json={"query": login})
    assert english.json()["data"]["logIn"]["userErrors"][0]["message"] == (
        "Wrong e-mail or password."
    )
    assert french.json()["data"]["logIn"]["userErrors"][0]["message"] == (
        "E-mail ou mot de passe incorrect."
    )


def _shadows_the_marker(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a function assigns ``_`` (``a, _ = …``) and also calls ``_()``: the call then
    fails with UnboundLocalError, only when the error is raised."""
    stores = calls = False
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store):
            stores = True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_":
            calls = True
    return stores and calls


def test_no_function_hides_the_translation_marker_behind_a_local_underscore():
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _shadows_the_marker(node)
    ]
    assert found == []


def test_a_moment_reads_in_the_marketplace_time_zone_as_each_reader_writes_it() -> None:
    late = datetime(2026, 12, 8, 23, 30, tzinfo=UTC)  # already the 9th in Paris
    assert day(late, "Europe/Paris").render("fr") == "9 décembre 2026"
    assert day(late, "Europe/Paris").render("en") == "December 9, 2026"
    assert hour(late, "Europe/Paris").render("fr") == "00:30"
    assert hour(late, "Europe/Paris").render("en").replace("\u202f", " ") == "12:30 AM"
    assert hour(late, "America/Montreal").render("fr") == "18:30"
    assert day(date(2027, 1, 13), "Pacific/Auckland").render("fr") == "13 janvier 2027"
    values = {"service": "Ménage", "day": day(late, "Europe/Paris"), "hour": hour(late, "UTC")}
    visit = Text("{service} on {day} at {hour}.", values)
    assert visit.render("en") == "Ménage on December 9, 2026 at 11:30\u202fPM."
