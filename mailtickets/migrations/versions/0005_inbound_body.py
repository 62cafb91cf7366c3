"""An inbound mail's bytes move to a table of their own, `inboundbody`.

SQLite rewrites a row whole on every UPDATE, so each change of an inbound row (its claim,
its state, its server flag) copied the mail it held, a 25 MB one included, and a zeroblob
written in the middle of a row is made in memory. Every mail's bytes are copied over as
they are; `inbound` keeps every other column and value.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inboundbody",
        sa.Column("inbound_id", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound.id"]),
        sa.PrimaryKeyConstraint("inbound_id"),
    )
    op.execute("INSERT INTO inboundbody (inbound_id, raw) SELECT id, raw FROM inbound")
    with op.batch_alter_table("inbound") as batch_op:
        batch_op.drop_column("raw")


def downgrade() -> None:
    with op.batch_alter_table("inbound") as batch_op:
        batch_op.add_column(sa.Column("raw", sa.LargeBinary(), nullable=False, server_default=""))
    op.execute(
        "UPDATE inbound SET raw = "
        "(SELECT raw FROM inboundbody WHERE inboundbody.inbound_id = inbound.id)"
    )
    op.drop_table("inboundbody")
