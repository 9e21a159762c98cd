"""The core scopes every tenant-owned query; nothing crosses from one workspace to another."""

import pytest
from sqlalchemy import delete, func, select, update

from qrplatform.auth import services
from qrplatform.auth.models import ApiToken
from qrplatform.jobs import Job
from qrplatform.tenancy import TenantScopeError, tenant_scope, unscoped


@pytest.fixture
def two_tenants(db, create_user):
    alice, bob = create_user(), create_user()
    services.create_token(alice, alice.personal_workspace_id, "alice's")
    services.create_token(bob, bob.personal_workspace_id, "bob's")
    return alice.personal_workspace_id, bob.personal_workspace_id


def names(rows):
    return sorted(row.name for row in rows)


def test_queries_see_only_the_scoped_workspace(db, two_tenants):
    alice_ws, bob_ws = two_tenants
    with tenant_scope(alice_ws):
        assert names(db.session.scalars(select(ApiToken))) == ["alice's"]
        assert db.session.query(ApiToken).count() == 1
    with tenant_scope(bob_ws):
        assert names(db.session.scalars(select(ApiToken))) == ["bob's"]
    with unscoped():
        assert names(db.session.scalars(select(ApiToken))) == ["alice's", "bob's"]


def test_get_by_primary_key_is_scoped_too(db, two_tenants):
    alice_ws, bob_ws = two_tenants
    with unscoped():
        bobs_id = db.session.scalar(select(ApiToken.id).where(ApiToken.workspace_id == bob_ws))
    db.session.expunge_all()
    with tenant_scope(alice_ws):
        assert db.session.get(ApiToken, bobs_id) is None


def test_bulk_update_and_delete_are_scoped(db, two_tenants):
    alice_ws, _bob_ws = two_tenants
    with tenant_scope(alice_ws):
        db.session.execute(update(ApiToken).values(name="renamed"))
        db.session.execute(delete(ApiToken).where(ApiToken.name == "bob's"))
        db.session.commit()
    with unscoped():
        assert names(db.session.scalars(select(ApiToken))) == ["bob's", "renamed"]


def test_counts_and_subqueries_are_scoped(db, two_tenants):
    alice_ws, _bob_ws = two_tenants
    with tenant_scope(alice_ws):
        assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 1
        assert db.session.scalar(
            select(func.count()).select_from(select(ApiToken.id).subquery())) == 1
        assert db.session.scalar(select(func.count()).where(ApiToken.id > 0)) == 1


@pytest.mark.parametrize("statement", [
    select(ApiToken),
    select(func.count()).select_from(ApiToken),
    select(func.count()).select_from(select(ApiToken.id).subquery()),
])
def test_tenant_data_without_a_scope_is_an_error_not_a_leak(db, two_tenants, statement):
    with pytest.raises(TenantScopeError, match="without a workspace scope"):
        db.session.execute(statement).all()


def test_new_rows_are_stamped_and_cannot_be_written_elsewhere(db, two_tenants, create_user):
    alice_ws, bob_ws = two_tenants
    user = create_user()
    with tenant_scope(alice_ws):
        token = ApiToken(user_id=user.id, name="stamped", prefix="p", token_hash="h" * 64)
        db.session.add(token)
        db.session.commit()
        assert token.workspace_id == alice_ws
        db.session.add(ApiToken(user_id=user.id, name="smuggled", prefix="p",
                                token_hash="s" * 64, workspace_id=bob_ws))
        with pytest.raises(TenantScopeError, match="refusing to write"):
            db.session.flush()
        db.session.rollback()
        token = db.session.scalar(select(ApiToken).where(ApiToken.name == "stamped"))
        token.workspace_id = bob_ws
        with pytest.raises(TenantScopeError, match="cannot move"):
            db.session.flush()
        db.session.rollback()


def test_system_rows_are_invisible_to_tenants(db, two_tenants):
    alice_ws, _bob_ws = two_tenants
    with unscoped():
        db.session.add(Job(id="system-job", name="x:y", args=[]))
        db.session.commit()
    with tenant_scope(alice_ws):
        assert db.session.get(Job, "system-job") is None


def test_every_tenant_table_has_an_index_that_starts_with_workspace_id(app):
    """Every scoped query filters on workspace_id: a table that leaves out the mixin's own
    index (``__tenant_index__ = False``) must have another that starts with it."""
    from qrplatform.extensions import db
    from qrplatform.tenancy import TenantMixin

    tenant_tables = {mapper.local_table for mapper in db.Model.registry.mappers
                     if issubclass(mapper.class_, TenantMixin)}
    assert len(tenant_tables) > 40
    unindexed = sorted(table.name for table in tenant_tables
                       if not any(next(iter(index.columns)).name == "workspace_id"
                                  for index in table.indexes))
    assert unindexed == []
