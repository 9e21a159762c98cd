"""Thousands of new rows of one model at once: PostgreSQL's COPY instead of the ORM's INSERT.

``insert_new(objects)`` stores new objects of one mapped class as ``session.add_all(objects)``
and a flush would, tenant stamp included (``tenancy.stamp_new``), for a bulk upload's codes.
The ORM writes them as multi-row INSERTs of a thousand rows, which psycopg re-parses whole for
every batch (a statement that long is past its cache), and sets each row's parameters up in
Python: storing 1,000 codes with their tags and events took 1.27 s of CPU that way, 0.30 s
with COPY (most of the rest is making the objects).

On PostgreSQL the objects stay out of the session: their ids come from the table's sequence
in one query, their defaults are filled in as the ORM would fill them, a many-to-one
relationship sets its foreign key, and columns left to a server default are not read back.
Read them afterwards; do not change them expecting a write. No mapper event (``before_insert``,
``after_insert``) fires for them, so a model that has one is refused. Elsewhere (SQLite)
this is the ORM's add and flush.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.orm import RelationshipDirection

from qrplatform.extensions import db
from qrplatform.tenancy import stamp_new


def insert_new(objects: Sequence[Any]) -> None:
    """Insert these new objects, all of one mapped class, in the session's transaction."""
    if not objects:
        return
    if db.engine.dialect.name != "postgresql":
        db.session.add_all(objects)
        db.session.flush()
        return
    from psycopg import sql  # PostgreSQL's driver: an app on SQLite does not import it

    mapper = inspect(type(objects[0]))
    if any(type(obj) is not mapper.class_ for obj in objects):
        raise TypeError("insert_new takes objects of one class")
    if mapper.dispatch.before_insert or mapper.dispatch.after_insert:
        raise TypeError(f"{mapper.class_.__name__} has insert events, which COPY would skip")
    if not all(inspect(obj).transient for obj in objects):
        raise ValueError("insert_new takes new objects that no session holds: the session "
                         "would insert them a second time")
    stamp_new(objects)
    _set_foreign_keys(mapper, objects)
    table = mapper.local_table
    db.session.flush()   # what is pending first: these rows may refer to it
    connection = db.session.connection()
    _assign_ids(connection, mapper, objects)
    dialect = connection.dialect
    columns, converters, keys = [], [], []
    for column in table.columns:
        key = mapper.get_property_by_column(column).key
        values = [obj.__dict__.get(key) for obj in objects]
        if None in values and column.default is not None:
            values = _fill_default(column, key, objects)
        if None in values and column.server_default is not None:
            if any(value is not None for value in values):
                raise ValueError(f"{table.name}.{column.name}: some rows leave it to the "
                                 "server's default and some do not")
            continue   # the database fills it in
        columns.append(column.name)
        converters.append(column.type.dialect_impl(dialect).bind_processor(dialect))
        keys.append(key)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with connection.connection.driver_connection.cursor() as cursor, \
            cursor.copy(statement) as copy:
        for obj in objects:
            state = obj.__dict__
            copy.write_row([None if (value := state.get(key)) is None
                            else convert(value) if convert else value
                            for key, convert in zip(keys, converters, strict=True)])


def _set_foreign_keys(mapper, objects: Sequence[Any]) -> None:
    """A row's foreign keys from its many-to-one relationships (``tag.code = code``), as the
    ORM's flush copies them."""
    for relationship in mapper.relationships:
        if relationship.direction is not RelationshipDirection.MANYTOONE:
            continue
        for obj in objects:
            parent = obj.__dict__.get(relationship.key)
            if parent is None:
                continue
            parent_mapper = inspect(type(parent))
            for local, remote in relationship.local_remote_pairs:
                value = getattr(parent, parent_mapper.get_property_by_column(remote).key)
                if value is None:
                    raise ValueError(f"{type(obj).__name__}.{relationship.key} is not stored "
                                     "yet: insert it first")
                setattr(obj, mapper.get_property_by_column(local).key, value)


def _assign_ids(connection, mapper, objects: Sequence[Any]) -> None:
    """Ids for the objects that have none, from the primary key's sequence in one query."""
    (column,) = mapper.primary_key
    key = mapper.get_property_by_column(column).key
    missing = [obj for obj in objects if obj.__dict__.get(key) is None]
    if not missing:
        return
    ids = connection.execute(
        text("SELECT nextval(pg_get_serial_sequence(:table, :column)) "
             "FROM generate_series(1, :count)"),
        {"table": mapper.local_table.name, "column": column.name, "count": len(missing)},
    ).scalars().all()
    for obj, new_id in zip(missing, ids, strict=True):
        setattr(obj, key, new_id)


def _fill_default(column, key: str, objects: Sequence[Any]) -> list[Any]:
    """The column's Python default for each object that has no value (set on the object too,
    as the ORM's flush does)."""
    default = column.default
    if not (default.is_scalar or default.is_callable):
        raise ValueError(f"{column.table.name}.{column.name}: insert_new cannot compute a "
                         "default that is SQL or a sequence")
    values = []
    for obj in objects:
        value = obj.__dict__.get(key)
        if value is None:
            value = default.arg if default.is_scalar else default.arg(None)
            setattr(obj, key, value)
        values.append(value)
    return values
