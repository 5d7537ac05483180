"""Encryption at rest for OAuth tokens and other secrets, with key rotation.

Keys come from KEEPWARM_ENCRYPTION_KEYS (comma-separated Fernet keys, newest first); they are never
stored in the database or the repository. MultiFernet decrypts with any listed key and encrypts
with the first, so rotation is: prepend a new key, deploy, run `manage.py rotate_encryption_keys`,
then drop the old key. Demo and test settings derive a key from SECRET_KEY when none is set;
production settings require the variable.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionFailed(Exception):
    """A stored secret could not be decrypted with any configured key."""


def _derived_key() -> bytes:
    digest = hashlib.sha256(("keepwarm-encryption:" + settings.SECRET_KEY).encode()).digest()
    return base64.urlsafe_b64encode(digest)


@functools.cache
def _fernet() -> MultiFernet:
    keys = [key.encode() for key in settings.KEEPWARM_ENCRYPTION_KEYS if key]
    if not keys:
        keys = [_derived_key()]
    return MultiFernet([Fernet(key) for key in keys])


def reset_key_cache() -> None:
    """Forget the loaded keys (after settings change, e.g. in tests of rotation)."""
    _fernet.cache_clear()
    _digest_key.cache_clear()


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionFailed(
            "stored secret cannot be decrypted with the configured keys"
        ) from exc


def rotate(ciphertext: str) -> str:
    """Re-encrypt with the primary key (MultiFernet.rotate)."""
    return _fernet().rotate(ciphertext.encode()).decode()


@functools.cache
def _digest_key() -> bytes:
    return hashlib.sha256(("keepwarm-secret-digest:" + settings.SECRET_KEY).encode()).digest()


def secret_digest(value: str) -> str:
    """A keyed digest of a secret, for comparing it without keeping the secret itself (e.g. in a
    cache). Changes with SECRET_KEY; `secret_digest_version()` names the key in use."""
    return hmac.new(_digest_key(), value.encode(), hashlib.sha256).hexdigest()


def secret_digest_version() -> str:
    """A short public fingerprint of the digest key: part of cache keys, so digests made with a
    previous SECRET_KEY are never compared with digests made with the current one."""
    return hashlib.sha256(b"version:" + _digest_key()).hexdigest()[:8]
