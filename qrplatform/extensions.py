"""The Flask extensions, created once and bound to the app in create_app()."""

from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Named constraints so that Alembic can alter them, on SQLite (batch mode) too.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Migrations:
    """What Flask-Migrate reads from ``app.extensions["migrate"]``, with Flask-Migrate (and
    Alembic) imported only when a migration runs: they take a few hundred milliseconds to
    import, which no web worker, consumer or relay needs."""

    def __init__(self, db: SQLAlchemy, directory: str, configure):
        self.db = db
        self.directory = directory
        self.configure_args: dict = {}
        self._configure = configure
        self._migrate = None

    @property
    def metadata(self) -> MetaData:
        return self.db.metadata

    @property
    def migrate(self):
        if self._migrate is None:
            from flask_migrate import Migrate

            migrate = Migrate(db=self.db, directory=self.directory)
            migrate.configure(self._configure)
            self._migrate = migrate
        return self._migrate


db = SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def _write_ahead_log(dbapi_connection, _record) -> None:
    """The embedded default's SQLite file is shared by the pages, the job thread and the scan
    sink: in WAL mode a reader never waits for a writer (a bulk upload saving ten thousand
    codes would otherwise lock every page out until it commits). Kept in the file itself.
    (The class's module, not isinstance: a PostgreSQL process never imports sqlite3.)"""
    if type(dbapi_connection).__module__ == "sqlite3":
        dbapi_connection.execute("PRAGMA journal_mode=WAL").close()


def dialect_insert(table):
    """An INSERT of the database in use, with its ``on_conflict_do_nothing()`` and
    ``on_conflict_do_update()`` (PostgreSQL, and SQLite for `make run`)."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)
login_manager = LoginManager()
csrf = CSRFProtect()
