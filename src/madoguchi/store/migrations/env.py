"""Alembic environment: migrations are run programmatically by `madoguchi.store.migrate`."""

from __future__ import annotations

from alembic import context

from madoguchi.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import create_engine
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection) -> None:  # noqa: ANN001
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
