"""The vault's encryption (issue 17): AES-256-GCM under an HKDF-derived key, bound to
its row and purpose; a wrong key or any tampering is a clear VaultError."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from vault import (
    ENV_VAR,
    KEY_FILE_NAME,
    NONCE_BYTES,
    VaultError,
    derive_key,
    load_key,
    seal,
    unseal,
)

SECRET = bytes.fromhex("0201036c6e6402f801030a10" + "ab" * 100)
ROW, PURPOSE = "row-1", "lnd-macaroon"


@pytest.fixture
def key():
    return derive_key(os.urandom(32))


def test_round_trip(key):
    sealed = seal(key, SECRET, ROW, PURPOSE)
    assert unseal(key, sealed, ROW, PURPOSE) == SECRET
    assert SECRET.hex() not in sealed and base64.b64encode(SECRET).decode() not in sealed
    version, key_id, body = sealed.split(":")
    blob = base64.b64decode(body)
    assert version == "v1" and key_id == key.key_id
    assert len(blob) == NONCE_BYTES + len(SECRET) + 16  # nonce, ciphertext, GCM tag
    assert SECRET not in blob


def test_the_key_is_derived_and_the_same_master_gives_the_same_key():
    master = os.urandom(32)
    a, b = derive_key(master), derive_key(master)
    assert a.key == b.key and a.key_id == b.key_id and len(a.key) == 32
    assert a.key != master and derive_key(os.urandom(32)).key != a.key
    assert "key=" not in repr(a)  # the key never shows in a repr (logs, tracebacks)


def test_wrong_key(key):
    sealed = seal(key, SECRET, ROW, PURPOSE)
    other = derive_key(os.urandom(32))
    with pytest.raises(VaultError, match="another master secret"):
        unseal(other, sealed, ROW, PURPOSE)
    # Even with the key id forged to match, the wrong key does not decrypt.
    forged = sealed.replace(key.key_id, other.key_id)
    with pytest.raises(VaultError, match="does not decrypt"):
        unseal(other, forged, ROW, PURPOSE)


def test_tampered_ciphertext(key):
    sealed = seal(key, SECRET, ROW, PURPOSE)
    head, body = sealed.rsplit(":", 1)
    blob = bytearray(base64.b64decode(body))
    for index in (0, NONCE_BYTES, NONCE_BYTES + 5, len(blob) - 1):  # nonce, ciphertext, tag
        changed = bytearray(blob)
        changed[index] ^= 0x01
        with pytest.raises(VaultError, match="does not decrypt"):
            unseal(key, f"{head}:{base64.b64encode(bytes(changed)).decode()}", ROW, PURPOSE)
    with pytest.raises(VaultError, match="truncated"):
        unseal(key, f"{head}:{base64.b64encode(bytes(blob[:20])).decode()}", ROW, PURPOSE)
    for garbage in ("", "v1:x", "v1:a:b:c", f"{head}:not base64!"):
        with pytest.raises(VaultError, match="format"):
            unseal(key, garbage, ROW, PURPOSE)
    with pytest.raises(VaultError, match="format 'v9'"):
        unseal(key, "v9" + sealed[2:], ROW, PURPOSE)


def test_tampered_associated_data(key):
    sealed = seal(key, SECRET, ROW, PURPOSE)
    with pytest.raises(VaultError, match="does not decrypt"):
        unseal(key, sealed, "row-2", PURPOSE)  # copied to another row
    with pytest.raises(VaultError, match="does not decrypt"):
        unseal(key, sealed, ROW, "other-purpose")
    assert unseal(key, sealed, ROW, PURPOSE) == SECRET


def test_nonces_are_unique_over_many_encryptions(key):
    count = 20_000
    nonces = set()
    ciphertexts = set()
    for _ in range(count):
        blob = base64.b64decode(seal(key, SECRET, ROW, PURPOSE).rsplit(":", 1)[1])
        nonces.add(blob[:NONCE_BYTES])
        ciphertexts.add(blob[NONCE_BYTES:])
    assert len(nonces) == count and len(ciphertexts) == count


def test_the_key_file_is_created_0600_once_and_reused(tmp_path):
    first = load_key(tmp_path, environ={})
    path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    again = load_key(tmp_path, environ={})
    assert again.key == first.key and str(path) in again.source
    os.chmod(path, 0o644)
    assert load_key(tmp_path, environ={}).key == first.key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # tightened
    path.write_text("not hex\n")
    with pytest.raises(VaultError, match="not hex"):
        load_key(tmp_path, environ={})


def test_the_environment_variable_overrides_the_key_file(tmp_path):
    from_file = load_key(tmp_path, environ={})
    from_env = load_key(tmp_path, environ={ENV_VAR: "x" * 40})
    assert from_env.key != from_file.key and ENV_VAR in from_env.source
    sealed = seal(from_file, SECRET, ROW, PURPOSE)
    with pytest.raises(VaultError, match="another master secret"):
        unseal(from_env, sealed, ROW, PURPOSE)
    with pytest.raises(VaultError, match="at least 32"):
        load_key(tmp_path, environ={ENV_VAR: "short"})
    with pytest.raises(VaultError, match="no master secret"):
        load_key(None, environ={})
