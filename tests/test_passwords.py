"""Password hashes (qrplatform.passwords): the recommended argon2 parameters in production, the
cheapest only in test apps, and a hash made with other parameters renewed at login."""

import pytest
from argon2 import extract_parameters, profiles
from sqlalchemy import select

from qrplatform import create_app
from qrplatform.auth.models import User
from qrplatform.passwords import hash_password, needs_rehash, password_matches
from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD


def test_cheap_hashes_are_refused_outside_a_test_app():
    with pytest.raises(ValueError, match="QRP_CHEAP_PASSWORD_HASHES is for test apps only"):
        create_app({"QRP_CHEAP_PASSWORD_HASHES": True, "TESTING": False,
                    "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_a_hash_checks_only_its_own_password_and_a_broken_one_nothing(app):
    with app.app_context():
        stored = hash_password("the right one")
        assert password_matches(stored, "the right one")
        for wrong in ("the wrong one", "", None):
            assert not password_matches(stored, wrong)
        for broken in (None, "", "not a hash", stored[:-8]):
            assert not password_matches(broken, "the right one")


def test_a_login_renews_a_hash_made_with_other_parameters(make_app, db, create_user):
    cheap = create_user(email="old@example.com")
    assert extract_parameters(cheap.password_hash) == profiles.CHEAPEST

    recommended = make_app(QRP_CHEAP_PASSWORD_HASHES=False)
    with recommended.app_context():
        assert needs_rehash(cheap.password_hash)
        response = recommended.test_client().post(
            "/api/v1/auth/tokens", json={"email": "old@example.com", "password": DEFAULT_PASSWORD})
        assert response.status_code == 201, response.json
    renewed = db.session.scalar(select(User).where(User.email == "old@example.com"))
    db.session.refresh(renewed)
    assert extract_parameters(renewed.password_hash) == profiles.RFC_9106_LOW_MEMORY
    with recommended.app_context():
        assert not needs_rehash(renewed.password_hash)
        assert password_matches(renewed.password_hash, DEFAULT_PASSWORD)
