"""The vault's cryptography: Fee Autopilot's node credential, encrypted at rest.

AES-256-GCM (`cryptography`'s AEAD) with a fresh random 96-bit nonce for every
encryption. The associated data binds the ciphertext to its row and purpose, so a
ciphertext copied to another row (or used for another purpose) does not decrypt.
The key is derived with HKDF-SHA256 from a master secret that never lives in the
database:

- the environment variable FEEPILOT_VAULT_KEY (at least 32 characters), when set;
- otherwise the key file `feepilot-vault.key` in LNbits' data folder: 32 random
  bytes (hex) that the extension creates on first use with mode 0600.

Whoever has the database alone (a backup, a leaked dump) cannot use the credential;
whoever has the database and the master secret can, and so can code running inside
LNbits' process (README: what it protects against and what not).

A wrong master secret or a tampered ciphertext is a VaultError that says which,
and nothing is decrypted. No function here logs or returns a secret in an error.
Only the standard library and `cryptography` (which LNbits ships); no database.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ENV_VAR = "FEEPILOT_VAULT_KEY"
KEY_FILE_NAME = "feepilot-vault.key"
FORMAT = "v1"
NONCE_BYTES = 12  # 96 bits, GCM's own size
MASTER_BYTES = 32
MIN_ENV_CHARS = 32
_KEY_INFO = b"feepilot vault v1: AES-256-GCM key"
_ID_INFO = b"feepilot vault v1: key id"


class VaultError(Exception):
    """The vault cannot decrypt (or cannot find its master secret): the message says
    why and what to do; nothing secret is in it."""


@dataclass(frozen=True)
class VaultKey:
    key: bytes = field(repr=False)
    key_id: str  # names the master secret (not secret): tells a wrong key from tampering
    source: str  # "environment variable FEEPILOT_VAULT_KEY" or the key file's path


def _hkdf(master: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(master)


def derive_key(master: bytes, source: str = "test") -> VaultKey:
    if len(master) < MIN_ENV_CHARS:
        raise VaultError(f"the vault's master secret is too short (at least {MIN_ENV_CHARS} bytes)")
    return VaultKey(key=_hkdf(master, _KEY_INFO, 32), key_id=_hkdf(master, _ID_INFO, 8).hex(), source=source)


def associated_data(row_id: str, purpose: str) -> bytes:
    return f"feepilot-vault:{FORMAT}:{purpose}:{row_id}".encode()


def seal(key: VaultKey, plaintext: bytes, row_id: str, purpose: str) -> str:
    """`v1:<key id>:<base64 of nonce + ciphertext + tag>`."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key.key).encrypt(nonce, plaintext, associated_data(row_id, purpose))
    return f"{FORMAT}:{key.key_id}:{base64.b64encode(nonce + sealed).decode()}"


def unseal(key: VaultKey, sealed: str, row_id: str, purpose: str) -> bytes:
    try:
        version, key_id, body = sealed.split(":")
        blob = base64.b64decode(body, validate=True)
    except (ValueError, binascii.Error, AttributeError):
        raise VaultError("the stored credential is not in the vault's format (the database row was altered)") from None
    if version != FORMAT:
        raise VaultError(f"the stored credential uses vault format {version!r}, this version reads {FORMAT!r}")
    if key_id != key.key_id:
        raise VaultError(
            f"the stored credential was encrypted under another master secret (key id {key_id}, this one is "
            f"{key.key_id}, from the {key.source}): restore the key file or FEEPILOT_VAULT_KEY it was made with, "
            "or revoke the credential and get a new one"
        )
    if len(blob) < NONCE_BYTES + 16:
        raise VaultError("the stored credential is truncated (the database row was altered)")
    try:
        return AESGCM(key.key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data(row_id, purpose))
    except InvalidTag:
        raise VaultError(
            "the stored credential does not decrypt: its ciphertext or the row it belongs to was altered "
            "(revoke it and get a new one)"
        ) from None


def key_file_path(data_folder: Path) -> Path:
    return Path(data_folder) / KEY_FILE_NAME


def load_key(data_folder: Optional[Path], environ: Mapping[str, str] = os.environ) -> VaultKey:
    """The master secret from FEEPILOT_VAULT_KEY, else the key file (created 0600 on first use)."""
    env = environ.get(ENV_VAR)
    if env:
        if len(env) < MIN_ENV_CHARS:
            raise VaultError(f"{ENV_VAR} must be at least {MIN_ENV_CHARS} characters long")
        return derive_key(env.encode(), f"environment variable {ENV_VAR}")
    if data_folder is None:
        raise VaultError(f"no master secret: set {ENV_VAR} or LNbits' data folder")
    path = key_file_path(data_folder)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(os.urandom(MASTER_BYTES).hex() + "\n")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, 0o600)  # readable by others: tighten it, the secret may already be known
    try:
        master = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise VaultError(f"the vault key file {path} is not hex: restore it, or remove it and revoke the credential") from None
    if len(master) != MASTER_BYTES:
        raise VaultError(f"the vault key file {path} does not hold {MASTER_BYTES} bytes")
    return derive_key(master, f"key file {path}")
