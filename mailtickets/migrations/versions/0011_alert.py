"""Alerts (issue 11 point 2): a login whose credential stopped working (an OAuth2 provider's
invalid_grant, an expired client secret, a refused password) is raised once, in one row
keyed by the login, so ops get one mail however many workers or retries, `status` fails
while it lasts, and the metrics show it; the row is cleared when the login works again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("alert")
