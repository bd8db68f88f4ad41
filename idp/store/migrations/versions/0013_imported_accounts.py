"""imported accounts: sources, username aliases, legacy subjects, forced password change

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 22:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "password_change_required",
                sa.Boolean(),
                nullable=False,
                server_default=sa.text("false"),
            )
        )
        batch_op.add_column(sa.Column("last_login_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legacy_subject_source", sa.String(length=64), nullable=True))
    op.create_table(
        "imported_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("legacy_subject", sa.String(length=255), nullable=True),
        sa.Column("former_national_id", sa.String(length=12), nullable=True),
        sa.Column("snapshot", sa.JSON(), nullable=True),
        sa.Column("imported_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_imported_accounts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_accounts")),
        sa.UniqueConstraint("source", "source_id", name="uq_imported_accounts_source_id"),
        sa.UniqueConstraint("source", "legacy_subject", name="uq_imported_accounts_legacy_sub"),
    )
    with op.batch_alter_table("imported_accounts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_imported_accounts_former_national_id", ["former_national_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_imported_accounts_user_id"), ["user_id"], unique=False)
    op.create_table(
        "username_aliases",
        sa.Column("username_normalized", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_username_aliases_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("username_normalized", name=op.f("pk_username_aliases")),
    )
    with op.batch_alter_table("username_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_username_aliases_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("username_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_username_aliases_user_id"))
    op.drop_table("username_aliases")
    with op.batch_alter_table("imported_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imported_accounts_user_id"))
        batch_op.drop_index("ix_imported_accounts_former_national_id")
    op.drop_table("imported_accounts")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("legacy_subject_source")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_login_at")
        batch_op.drop_column("password_change_required")
