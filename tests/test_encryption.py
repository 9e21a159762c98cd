"""Secrets at rest: encrypted, readable after a key rotation, a clear error without the key."""

import pytest
from cryptography.fernet import Fernet

from qrplatform import encryption


def test_rotation_keeps_old_secrets_readable_and_a_lost_key_says_so(make_app):
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    with make_app(QRP_ENCRYPTION_KEYS=[old_key]).app_context():
        token = encryption.encrypt("JBSWY3DPEHPK3PXP")
        assert "JBSWY3DPEHPK3PXP" not in token
    with make_app(QRP_ENCRYPTION_KEYS=[new_key, old_key]).app_context():
        assert encryption.decrypt(token) == "JBSWY3DPEHPK3PXP"
    with make_app(QRP_ENCRYPTION_KEYS=[new_key]).app_context(), \
            pytest.raises(RuntimeError, match="QRP_ENCRYPTION_KEYS or SECRET_KEY changed"):
        encryption.decrypt(token)


def test_without_keys_the_secret_key_derives_one(make_app):
    with make_app().app_context():
        assert encryption.decrypt(encryption.encrypt("seed")) == "seed"
