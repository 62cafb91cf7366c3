"""When ops released a mail held as spam: `inbound.spam_released_at`.

A mail whose topmost verdict header from the site's own server says spam is kept with
state "spam" ([security] spam_headers); `mailtickets spam release ID` puts it back in the
queue and sets this, so the next cycle processes it as ordinary mail and never holds it
again. Rows from before were never held: NULL. A downgrade leaves held mail held (state
"spam", which 0007's code never processes) rather than answer it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound") as batch_op:
        batch_op.add_column(
            sa.Column("spam_released_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound") as batch_op:
        batch_op.drop_column("spam_released_at")
