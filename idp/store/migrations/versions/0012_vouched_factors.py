"""vouched second factors and the daily second-factor lock

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 19:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Proved numbers that exist today were set at the counter or by staff: they stay vouched.
    # Authenticator apps were enrolled with a password alone: an admin renews theirs under SMS.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("phone_vouched", sa.Boolean(), nullable=False, server_default=sa.text("true"))
        )
        batch_op.add_column(sa.Column("second_factor_locked_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("totp_enrolments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("vouched", sa.Boolean(), nullable=False, server_default=sa.text("false"))
        )


def downgrade() -> None:
    with op.batch_alter_table("totp_enrolments", schema=None) as batch_op:
        batch_op.drop_column("vouched")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("second_factor_locked_at")
        batch_op.drop_column("phone_vouched")
