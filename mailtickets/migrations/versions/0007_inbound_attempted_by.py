"""Who counted an inbound row's latest attempt: `inbound.attempted_by`, a worker id.

With several workers, a row one worker counted and is about to process looked to the others
like a retry, and each counted an attempt of its own: a healthy mail could reach
max_attempts and quarantine without ever failing. Rows from before have no counter (NULL),
which every worker may retry, as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound") as batch_op:
        batch_op.add_column(sa.Column("attempted_by", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound") as batch_op:
        batch_op.drop_column("attempted_by")
