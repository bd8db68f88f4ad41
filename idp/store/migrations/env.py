"""Alembic environment: the URL comes from the hub's config, the schema from its models."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from idp.store import models  # noqa: F401 - registers the tables
from idp.store.db import db

target_metadata = db.metadata
url = context.config.attributes.get("url") or context.config.get_main_option("sqlalchemy.url")


def run_offline() -> None:
    context.configure(
        url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


def _run(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
