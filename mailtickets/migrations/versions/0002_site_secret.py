"""Site secrets: a random key per installation, made here, that signs VERP bounce addresses."""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "sitesecret",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # Made at the first start, under the schema lock: every worker of the site reads the
    # same key, and no two can race to create it.
    op.bulk_insert(table, [{"name": "verp", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table("sitesecret")
