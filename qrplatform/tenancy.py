"""Tenant scoping, done once by the core for every plugin.

Every tenant-owned model mixes in ``TenantMixin`` (a ``workspace_id`` column). The current
workspace lives in a context variable that the gateway sets for each request and that a job
sets with ``tenant_scope(workspace_id)``. Two session hooks then do the rest:

- every ORM SELECT, UPDATE and DELETE touching a tenant model gets
  ``workspace_id = <current workspace>`` added (``with_loader_criteria``), relationship loads
  included;
- every new tenant row is stamped with the current workspace, and a row can never be written
  into, or moved to, another workspace.

With no scope at all a query on tenant data raises ``TenantScopeError`` instead of silently
reading every tenant's rows. Code that must look across workspaces (the scan redirect resolving a
short code, a retention purge) says so with ``unscoped()``.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import ForeignKey, event, inspect
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, with_loader_criteria
from sqlalchemy.sql import visitors

UNSCOPED = object()
_scope: ContextVar = ContextVar("qrp_workspace_scope", default=None)


class TenantScopeError(RuntimeError):
    """Tenant-owned data touched without a workspace scope, or across workspaces."""


class TenantMixin:
    """A row that belongs to exactly one workspace.

    A model that also keeps system rows (belonging to no workspace, such as a password-reset
    e-mail job) sets ``__tenant_nullable__ = True``; tenants never see those rows. A model
    whose own index starts with ``workspace_id`` sets ``__tenant_index__ = False``: that index
    serves the scoped queries, and a second one would only cost every insert.
    """

    __tenant_nullable__ = False
    __tenant_index__ = True

    @declared_attr
    def workspace_id(cls) -> Mapped[int | None]:
        return mapped_column(
            ForeignKey("workspaces.id", ondelete="CASCADE"),
            index=cls.__tenant_index__,
            nullable=cls.__tenant_nullable__,
        )


def current_workspace_id() -> int | None:
    value = _scope.get()
    return None if value is UNSCOPED else value


def set_scope(workspace_id: int | None) -> None:
    """Set the scope for the rest of this request (the gateway clears it at teardown)."""
    _scope.set(workspace_id)


@contextmanager
def tenant_scope(workspace_id: int) -> Iterator[None]:
    """Run a block (a job, a CLI command, a test) as one workspace."""
    if workspace_id is None:
        raise TenantScopeError("tenant_scope() needs a workspace id")
    token = _scope.set(workspace_id)
    try:
        yield
    finally:
        _scope.reset(token)


@contextmanager
def unscoped() -> Iterator[None]:
    """Look across workspaces on purpose. Keep these blocks small and obvious."""
    token = _scope.set(UNSCOPED)
    try:
        yield
    finally:
        _scope.reset(token)


_tenant_tables_cache: tuple[int, frozenset] = (0, frozenset())


def get_or_404(model, ident, message: str):
    """The row of ``model`` with this primary key in the workspace in scope, or NotFound (with
    ``message``). Always a scoped SELECT: Session.get may answer from the identity map."""
    from sqlalchemy import select

    from qrplatform.errors import NotFound
    from qrplatform.extensions import db

    key = inspect(model).primary_key[0]
    row = db.session.scalar(select(model).where(key == ident))
    if row is None:
        raise NotFound(message)
    return row


def _tenant_tables() -> frozenset:
    """The tables of every TenantMixin model (recomputed only when new models appear)."""
    global _tenant_tables_cache
    from qrplatform.extensions import db

    mappers = db.Model.registry.mappers
    if _tenant_tables_cache[0] != len(mappers):
        tables = frozenset(m.local_table for m in mappers if issubclass(m.class_, TenantMixin))
        _tenant_tables_cache = (len(mappers), tables)
    return _tenant_tables_cache[1]


def _touches_tenant_data(state) -> bool:
    """Whether a statement reads tenant tables anywhere (columns, FROM, subqueries)."""
    tables = _tenant_tables()
    return any(element in tables for element in visitors.iterate(state.statement))


@event.listens_for(Session, "do_orm_execute")
def _scope_tenant_statements(state) -> None:
    if state.is_column_load or not (state.is_select or state.is_update or state.is_delete):
        return
    scope = _scope.get()
    if scope is UNSCOPED:
        return
    if scope is None:
        if not _touches_tenant_data(state):
            return
        raise TenantScopeError(
            "query on tenant-owned data without a workspace scope; "
            "run it inside a request, tenant_scope(workspace_id) or unscoped()"
        )
    # Added to every statement: it only filters the tenant entities the statement mentions,
    # wherever they appear (columns, select_from, subqueries, relationship loads).
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantMixin, lambda cls: cls.workspace_id == scope, include_aliases=True
        )
    )


def stamp_new(objects) -> None:
    """Give new tenant rows the workspace in scope, and refuse one that names another
    workspace or that has none to get: the check every insert passes, through the ORM's flush
    or ``bulkinsert.insert_new``."""
    scope = _scope.get()
    scoped_to = None if scope is UNSCOPED else scope
    for obj in objects:
        if not isinstance(obj, TenantMixin):
            continue
        if obj.workspace_id is None:
            if scoped_to is None and obj.__tenant_nullable__:
                continue
            if scoped_to is None:
                raise TenantScopeError(
                    f"new {type(obj).__name__} has no workspace_id and no workspace is in scope"
                )
            obj.workspace_id = scoped_to
        elif scoped_to is not None and obj.workspace_id != scoped_to:
            raise TenantScopeError(
                f"refusing to write {type(obj).__name__} into workspace {obj.workspace_id} "
                f"while scoped to workspace {scoped_to}"
            )


@event.listens_for(Session, "before_flush")
def _stamp_workspace(session, flush_context, instances) -> None:
    stamp_new(session.new)
    for obj in session.dirty:
        if isinstance(obj, TenantMixin):
            history = inspect(obj).attrs.workspace_id.history
            if history.deleted and history.deleted[0] is not None:
                raise TenantScopeError(
                    f"{type(obj).__name__} cannot move to another workspace"
                )
