"""Several mailboxes (issue 11): which mailbox a ticket belongs to (`ticket.mailbox`: its
mail is answered from that mailbox's address) and which mailbox's relay sends an outbox
row (`outbox.mailbox`). Rows from before name none (NULL): the first configured mailbox,
which is what a lone [imap] always was.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch_op:
        batch_op.add_column(sa.Column("mailbox", sa.String(), nullable=True))
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("mailbox", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("mailbox")
    with op.batch_alter_table("ticket") as batch_op:
        batch_op.drop_column("mailbox")
