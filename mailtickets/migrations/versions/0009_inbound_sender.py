"""Who sent each inbound mail: `inbound.sender`, the From address, with an index by sender.

With several workers, a customer's second mail could be processed while another worker still
had the first in an uncommitted transaction: the reply found no ticket and opened one of its
own, and two workers made the same new contact at once. A sender's mails now wait for the
earlier ones in other workers' hands. Rows from before have no sender (""), which waits for
nothing, as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound") as batch_op:
        batch_op.add_column(sa.Column("sender", sa.String(), nullable=False, server_default=""))
    # The server default filled the old rows; new rows always name their sender.
    with op.batch_alter_table("inbound") as batch_op:
        batch_op.alter_column("sender", server_default=None)
        batch_op.create_index("ix_inbound_sender_id", ["sender", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound") as batch_op:
        batch_op.drop_index("ix_inbound_sender_id")
        batch_op.drop_column("sender")
