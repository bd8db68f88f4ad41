"""federated identities

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 14:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federated_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=True),
        sa.Column("level", sa.String(length=32), nullable=True),
        sa.Column("first_login_at", sa.BigInteger(), nullable=False),
        sa.Column("last_login_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_federated_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federated_identities")),
        sa.UniqueConstraint("connector", "subject", name="uq_federated_identities_subject"),
    )
    with op.batch_alter_table("federated_identities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_federated_identities_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("federated_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federated_identities_user_id"))
    op.drop_table("federated_identities")
