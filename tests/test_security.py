"""Sealed secrets: only the same server secret, purpose, owner and secret open them."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from presta.security import Vault
from presta.settings import get_settings

PURPOSE = b"presta/test/v1"
RESPONSE = b'{"data":{"signUp":{"accessToken":"secret"}}}'


@pytest.fixture
def server_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A known server secret, so values sealed by an earlier release can be checked."""
    monkeypatch.setenv("PRESTA_SECRET_KEY", "known-answer-secret-for-sealing-tests-0123456789")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _vault(*, purpose: bytes = PURPOSE, owner: str = "user:7@3", secret: str = "k-1") -> Vault:
    return Vault(purpose=purpose, owner=owner, secret=secret)


def _altered(sealed: str, position: int) -> str:
    blob = bytearray(base64.b64decode(sealed.removeprefix("v1:")))
    blob[position] ^= 0x01
    return "v1:" + base64.b64encode(bytes(blob)).decode()


def test_a_sealed_value_opens_with_the_vault_of_the_same_owner_and_secret():
    sealed = _vault().seal(RESPONSE)
    assert sealed.startswith("v1:")
    assert b"secret" not in base64.b64decode(sealed.removeprefix("v1:"))
    assert _vault().unseal(sealed) == RESPONSE


def test_another_secret_owner_or_purpose_neither_finds_nor_opens_it():
    sealed = _vault().seal(RESPONSE)
    for other in (_vault(secret="k-2"), _vault(owner="user:8@3"), _vault(purpose=b"other/v1")):
        assert other.lookup != _vault().lookup
        assert other.unseal(sealed) is None


def test_another_server_secret_neither_finds_nor_opens_it(monkeypatch):
    mine = _vault()
    sealed = mine.seal(RESPONSE)
    monkeypatch.setenv("PRESTA_SECRET_KEY", "another-server-secret-" + "s" * 40)
    get_settings.cache_clear()
    try:
        elsewhere = _vault()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert elsewhere.lookup != mine.lookup
    assert elsewhere.unseal(sealed) is None


def test_altered_or_malformed_sealed_text_does_not_open():
    vault = _vault()
    sealed = vault.seal(RESPONSE)
    assert vault.unseal(_altered(sealed, 0)) is None  # the nonce
    assert vault.unseal(_altered(sealed, 20)) is None  # the ciphertext
    assert vault.unseal(_altered(sealed, -1)) is None  # the tag
    assert vault.unseal(sealed[:-8]) is None
    assert vault.unseal(sealed.removeprefix("v1:")) is None
    assert vault.unseal("v1:not base64!") is None
    assert vault.unseal("v1:") is None
    assert vault.unseal("") is None


def test_sealing_the_same_value_twice_gives_two_texts():
    vault = _vault()
    first, second = vault.seal(RESPONSE), vault.seal(RESPONSE)
    assert first != second
    assert vault.unseal(first) == vault.unseal(second) == RESPONSE


def test_fingerprints_are_keyed_by_the_owners_secret():
    assert _vault().mac(RESPONSE) == _vault().mac(RESPONSE)
    assert _vault().mac(RESPONSE) != _vault(secret="k-2").mac(RESPONSE)
    assert _vault().mac(RESPONSE) != _vault().mac(RESPONSE + b" ")


def test_rows_written_by_earlier_releases_are_still_found_and_opened(server_secret):
    # Computed by the sealing code as it stood in schema/http/idempotency.py: the derivation
    # and the format must not change, or the idempotency rows in flight are orphaned.
    vault = Vault(purpose=b"presta/idempotency/v1", owner="user:7@3", secret="retry-42")
    assert vault.lookup == "e059fa8b91592fc17de567be1d2bbca43b3827d8de15794043b9fdd586ec18b5"
    assert vault.mac(b'{"query":"mutation"}') == (
        "49e75f07511209125b946ced8d09d3f7a55c25132638336498e9b9c0f52ff020"
    )
    sealed = "v1:KgvcjsMyjiCeyR6B7J/RtxvkEHdAExfLZUEuEO2fcs5QLqWjUWbIF748OXb47MX6"
    assert vault.unseal(sealed) == b'{"data":{"ok":true}}'
