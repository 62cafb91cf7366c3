"""Alembic environment: runs the migrations on the connection mailtickets.schema hands over."""

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from mailtickets.models import AwareDateTime


def render_item(kind: str, obj: Any, _autogen: AutogenContext) -> str | Literal[False]:
    # Autogenerate writes plain SQLAlchemy types: a migration must not import mailtickets,
    # or a later change to models.py would change what an old revision does.
    if kind == "type" and isinstance(obj, AutoString):
        return "sa.String()"
    if kind == "type" and isinstance(obj, AwareDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes.get("connection")
if connection is None:
    # The lock, the stamping of 0.1.0 databases and the newer-schema check live in schema.py.
    raise RuntimeError("migrations run through mailtickets.schema (`mailtickets db upgrade`)")
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite cannot ALTER most of a table: batch mode copies it to a new one instead.
    render_as_batch=connection.dialect.name == "sqlite",
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
