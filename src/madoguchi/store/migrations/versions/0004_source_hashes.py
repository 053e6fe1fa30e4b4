"""record hashes on the imported tables (a nightly load skips unchanged records)

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


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("source_hash")
