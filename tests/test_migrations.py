"""The schema comes from the migrations (core + each plugin's branch) and matches the models."""

import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from qrplatform import PROJECT_ROOT
from qrplatform.registry import registry
from qrplatform.testing.pytest_plugin import builtin_plugins


def owned_by_enabled_code(app):
    """Compare the tables of the core and the enabled plugins; a test may have imported the
    models of another plugin whose migrations are not applied here."""
    from qrplatform.extensions import db

    prefixes = tuple(f"{plugin.name}_" for plugin in registry(app).plugins)

    def include(obj, name, type_, reflected, compare_to):
        if type_ != "table":
            return True
        modules = {m.class_.__module__ for m in db.Model.registry.mappers
                   if m.local_table.name == name}
        return (not modules or name.startswith(prefixes)
                or any(module.startswith("qrplatform.") for module in modules))

    return include


def schema_differences(app, engine) -> list:
    from qrplatform.extensions import db

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_object": owned_by_enabled_code(app)})
        return compare_metadata(context, db.metadata)


def test_models_and_migrations_agree_on_postgresql(app, db):
    assert db.engine.dialect.name == "postgresql"
    assert schema_differences(app, db.engine) == []


def test_flask_db_upgrade_builds_the_schema_on_sqlite(app, tmp_path):
    database = tmp_path / "fresh.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}",
           "QRP_PLUGINS": ",".join(builtin_plugins()), "SECRET_KEY": "x"}
    env.pop("REDIS_URL", None)
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    engine = create_engine(f"sqlite:///{database}")
    tables = set(inspect(engine).get_table_names())
    assert {"users", "workspaces", "memberships", "api_tokens", "event_outbox", "jobs"} <= tables
    with app.app_context():
        differences = [d for d in schema_differences(app, engine)
                       if d[0] != "modify_type"]  # SQLite reports its own type names
    assert differences == []
    # Every default the migrations wrote is one SQLite can compute (PostgreSQL's now() is not:
    # the billing tables' inserts failed on the embedded database).
    inspector = inspect(engine)
    defaults = {(table, column["name"]): column["default"]
                for table in inspector.get_table_names()
                for column in inspector.get_columns(table) if column["default"] is not None}
    with engine.connect() as connection:
        for (table, column), default in defaults.items():
            try:
                connection.exec_driver_sql(f"SELECT {default}")
            except Exception as exc:  # the column is named in the failure
                raise AssertionError(f"{table}.{column} defaults to {default}: {exc}") from exc
    engine.dispose()
