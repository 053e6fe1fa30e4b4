"""record hashes on the imported tables (a nightly load skips unchanged records); 町字 per 番地 row

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# Rows loaded before this revision have no hash: the next load compares them field by field once.
TABLES = ("person_addresses", "qualifications", "support_measures", "banchi", "katagaki")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("source_hash", sa.Uuid(as_uuid=False), nullable=True))
    with op.batch_alter_table("banchi") as batch:
        batch.add_column(sa.Column("town_name", sa.String(length=100), nullable=False, server_default=""))
        batch.add_column(sa.Column("town_kana", sa.String(length=200), nullable=False, server_default=""))
    # Each load lifts ended 支援措置 restrictions: find the few restricted rows without a full scan.
    for table in ("persons", "person_addresses"):
        op.create_index(f"ix_{table}_restricted", table, ["atena_no"], postgresql_where=sa.text("restricted"),
                        sqlite_where=sa.text("restricted"))


def downgrade() -> None:
    for table in ("persons", "person_addresses"):
        op.drop_index(f"ix_{table}_restricted", table)
    with op.batch_alter_table("banchi") as batch:
        batch.drop_column("town_kana")
        batch.drop_column("town_name")
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("source_hash")
