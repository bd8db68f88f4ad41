"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from idp.store import db, models  # noqa: F401
from idp.store.migrate import current_revision, upgrade


def _diff(url):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, db.metadata)
    finally:
        engine.dispose()


def test_sqlite_migrations_match_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    upgrade(url)
    upgrade(url)  # running again is a no-op
    assert current_revision(url) is not None
    assert _diff(url) == []


def test_postgresql_migrations_match_models(pg_database_url):
    url = pg_database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    assert current_revision(url) is not None
    assert _diff(url) == []
