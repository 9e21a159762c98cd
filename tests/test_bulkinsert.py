"""``bulkinsert.insert_new`` writes what the ORM's flush writes, and keeps to the workspace in
scope as the flush does."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from qrplatform import bulkinsert, events
from qrplatform.auth.models import ApiToken
from qrplatform.events.models import OutboxEvent
from qrplatform.tenancy import TenantScopeError, tenant_scope, unscoped

REVOKED = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def tokens(user, tag: str) -> list[ApiToken]:
    """Two tokens set up through the relationship (``user``, not ``user_id``), one with the
    column default (``scopes``) and one with values of every kind."""
    return [ApiToken(user=user, name=f"{tag} default", prefix=f"{tag}a", token_hash=f"{tag}1"),
            ApiToken(user=user, name=f"{tag} “odd”\t\\ name", prefix=f"{tag}b",
                     token_hash=f"{tag}2", scopes=["qr:read", "ünïcode"], revoked_at=REVOKED)]


def stored(table: str, ids: list, leave_out: tuple[str, ...]) -> list[dict]:
    rows = db_rows(f"SELECT * FROM {table} WHERE id = ANY(:ids) ORDER BY id", ids)
    return [{k: v for k, v in row.items() if k not in leave_out} for row in rows]


def db_rows(sql: str, ids: list) -> list[dict]:
    from qrplatform.extensions import db

    return [dict(row._mapping) for row in db.session.execute(text(sql), {"ids": ids})]


def test_copied_rows_are_the_rows_the_orm_writes(db, create_user):
    user = create_user()
    with tenant_scope(user.personal_workspace_id):
        by_orm, by_copy = tokens(user, "orm"), tokens(user, "copy")
        db.session.add_all(by_orm)
        db.session.flush()
        bulkinsert.insert_new(by_copy)

        assert all(token.id for token in by_copy)
        assert [token.workspace_id for token in by_copy] == [user.personal_workspace_id] * 2
        assert by_copy[0].scopes == ["*"]          # the default, set on the object too
        leave_out = ("id", "prefix", "token_hash", "name", "created_at")
        orm_rows = stored("api_tokens", [t.id for t in by_orm], leave_out)
        copy_rows = stored("api_tokens", [t.id for t in by_copy], leave_out)
        assert copy_rows == orm_rows
        assert copy_rows[1]["revoked_at"] == REVOKED
        assert copy_rows[0]["user_id"] == user.id
        names = db_rows("SELECT name, created_at FROM api_tokens WHERE id = ANY(:ids) "
                        "ORDER BY id", [t.id for t in by_copy])
        assert [row["name"] for row in names] == ["copy default", "copy “odd”\t\\ name"]
        assert all(row["created_at"] for row in names)   # the server's default


def test_many_events_are_the_rows_one_event_at_a_time_writes(db, create_user):
    user = create_user()
    with tenant_scope(user.personal_workspace_id):
        one = [events.publish("qr.created", {"code_id": n, "batch": "b"}) for n in (1, 2)]
        many = events.publish_many("qr.created", [{"code_id": n, "batch": "b"} for n in (1, 2)])
        db.session.flush()
        leave_out = ("id", "payload", "created_at", "_sa_instance_state")
        rows = db.session.scalars(select(OutboxEvent).where(
            OutboxEvent.id.in_([e.id for e in one + many])).order_by(OutboxEvent.key)).all()
        assert len(rows) == 4
        by_id = {row.id: row for row in rows}
        for single, copied in zip(one, many, strict=True):
            first, second = by_id[single.id], by_id[copied.id]
            assert ({k: v for k, v in vars(first).items() if k not in leave_out}
                    == {k: v for k, v in vars(second).items() if k not in leave_out})
            assert second.payload == copied.to_json()
            assert second.attempts == 0 and second.published_at is None and second.created_at


def test_copying_keeps_to_the_workspace_in_scope(db, create_user):
    alice, bob = create_user(), create_user()
    with tenant_scope(alice.personal_workspace_id):
        intruder = tokens(alice, "x")
        intruder[1].workspace_id = bob.personal_workspace_id
        with pytest.raises(TenantScopeError, match="while scoped to workspace"):
            bulkinsert.insert_new(intruder)
    with unscoped(), pytest.raises(TenantScopeError, match="no workspace is in scope"):
        bulkinsert.insert_new(tokens(alice, "y"))
    with unscoped():
        assert db.session.scalar(select(ApiToken).where(ApiToken.prefix.in_(
            ["xa", "xb", "ya", "yb"]))) is None


def test_a_server_default_is_left_to_the_server_for_every_row_or_for_none(db, create_user):
    user = create_user()
    mixed = tokens(user, "m")
    mixed[0].created_at = REVOKED
    with tenant_scope(user.personal_workspace_id), pytest.raises(ValueError, match="created_at"):
        bulkinsert.insert_new(mixed)


def test_a_row_whose_parent_is_not_stored_yet_is_refused(db, create_user):
    from qrplatform.auth.models import User

    user = create_user()
    orphan = ApiToken(user=User(email="new@example.com", name="New"), name="t", prefix="o",
                      token_hash="o1")
    with tenant_scope(user.personal_workspace_id), pytest.raises(ValueError, match="user is not"):
        bulkinsert.insert_new([orphan])


def test_an_object_the_session_already_holds_is_refused(db, create_user):
    user = create_user()
    held = tokens(user, "h")
    with tenant_scope(user.personal_workspace_id):
        db.session.add(held[0])
        with pytest.raises(ValueError, match="no session holds"):
            bulkinsert.insert_new(held)


def test_a_model_with_insert_events_is_refused(db, create_user):
    from sqlalchemy import event

    def audit(mapper, connection, target):
        pass

    user = create_user()
    event.listen(ApiToken, "after_insert", audit)
    try:
        with tenant_scope(user.personal_workspace_id), pytest.raises(TypeError, match="events"):
            bulkinsert.insert_new(tokens(user, "e"))
    finally:
        event.remove(ApiToken, "after_insert", audit)
