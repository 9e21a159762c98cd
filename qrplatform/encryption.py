"""Small secrets encrypted at rest (an authenticator app's seed): Fernet from `cryptography`.

Keys: QRP_ENCRYPTION_KEYS, comma-separated Fernet keys, newest first (older ones still
decrypt, so a key can be rotated); without it, one key derived from SECRET_KEY.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


def _box() -> MultiFernet:
    box = current_app.extensions.get("qrp.encryption")
    if box is None:
        keys = current_app.config.get("QRP_ENCRYPTION_KEYS") or [base64.urlsafe_b64encode(
            hashlib.sha256(b"qrp-encryption:" + current_app.config["SECRET_KEY"].encode())
            .digest())]
        box = MultiFernet([Fernet(key) for key in keys])
        current_app.extensions["qrp.encryption"] = box
    return box


def encrypt(text: str) -> str:
    return _box().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _box().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError("a stored secret cannot be decrypted: was QRP_ENCRYPTION_KEYS or "
                           "SECRET_KEY changed without keeping the old key?") from exc
