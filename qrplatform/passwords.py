"""Password hashes, one way for every plugin: accounts, protected codes, protected microsites.

argon2id with argon2-cffi's recommended parameters (RFC 9106's low-memory profile: 64 MiB,
three passes, a tenth of a second or more of CPU a hash: deliberately slow for a guesser).
A hash carries its own parameters, so checking one never depends on the profile in use.

An app built for tests (``TESTING``) may set ``QRP_CHEAP_PASSWORD_HASHES``: the library's
cheapest profile, which the test suite uses because it signs up and logs in thousands of times.
Outside tests the setting is refused when the app is built (``check_settings``).
"""

from __future__ import annotations

import contextlib

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context

_RECOMMENDED = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
_CHEAPEST = PasswordHasher.from_parameters(profiles.CHEAPEST)

# Checked when an e-mail is unknown, so a failed login takes the same time either way: the hash
# of a random string nobody kept, made with the recommended parameters and written out rather
# than made at import (a process's start should not pay a hash).
_NOBODYS_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$EqIMMLIxAnvVUJmHfME39w$"
                 "RQxcZrUasHvNGpo0MQI0z0BRLs9kcmH0M7HwEFVgZAs")


def check_settings(config) -> None:
    """At start-up: cheap hashes are for test apps only."""
    if config.get("QRP_CHEAP_PASSWORD_HASHES") and not config.get("TESTING"):
        raise ValueError("QRP_CHEAP_PASSWORD_HASHES is for test apps only (TESTING): a "
                         "production password needs the recommended argon2 parameters.")


def _hasher() -> PasswordHasher:
    if has_app_context() and current_app.config.get("QRP_CHEAP_PASSWORD_HASHES"):
        return _CHEAPEST
    return _RECOMMENDED


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def password_matches(stored: str | None, password: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from; False for a missing or broken
    hash (which still costs a check's time, as a wrong password does)."""
    try:
        return _hasher().verify(stored or _NOBODYS_HASH, password or "") and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Made with other parameters than the ones in use: hash the password again at login."""
    with contextlib.suppress(InvalidHashError):
        return _hasher().check_needs_rehash(stored)
    return False
