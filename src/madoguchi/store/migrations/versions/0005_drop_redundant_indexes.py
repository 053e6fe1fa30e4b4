"""drop indexes that another index already serves (each one slows every load)

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Leading columns of the unique constraints uq_banchi_town_code / uq_katagaki_town_code.
    op.drop_index("ix_banchi_town_code", "banchi")
    op.drop_index("ix_katagaki_town_banchi", "katagaki")
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL searches kana through the byte-order indexes of 0003 (ix_persons_kana_*);
        # SQLite has no collation indexes and keeps this one.
        op.drop_index("ix_persons_kana_key", "persons")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_persons_kana_key", "persons", ["kana_key"])
    op.create_index("ix_katagaki_town_banchi", "katagaki", ["town_code", "banchi"])
    op.create_index("ix_banchi_town_code", "banchi", ["town_code"])
