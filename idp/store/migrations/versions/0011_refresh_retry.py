"""refresh rotation that is safe to retry: when a token was rotated, and its successor sealed

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 19:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rotated_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("successor", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("successor")
        batch_op.drop_column("rotated_at")
