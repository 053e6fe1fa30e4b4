"""index the 住民票コード (searched, was read whole); no planner statistics for columns no query filters on

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# Shown, printed and compared by the importer, never searched, joined or sorted on: ANALYZE after each
# load (and autovacuum) would sort a sample of each for nothing (at 20,000 residents 0.2 s of a first
# load). The search columns keep the default target.
UNSEARCHED = {
    "persons": ("relationship", "resident_kind", "name_kana", "former_surname", "romaji_name", "sex",
                "resident_since", "address_since", "honseki", "hittousha", "nationality", "residence_status",
                "residence_expiry", "mynumber_card_expiry", "e_cert_expiry", "removed_on", "removal_reason",
                "updated_at", "import_run_id"),
    "person_addresses": ("postal_code", "banchi", "katagaki", "moved_in_from"),
}


def _statistics(target: int) -> None:
    for table, cols in UNSEARCHED.items():
        op.execute(f"ALTER TABLE {table} " + ", ".join(f"ALTER COLUMN {c} SET STATISTICS {target}" for c in cols))


def upgrade() -> None:
    op.create_index("ix_persons_juminhyo_code", "persons", ["juminhyo_code"])
    if op.get_bind().dialect.name == "postgresql":
        _statistics(0)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _statistics(-1)
    op.drop_index("ix_persons_juminhyo_code", "persons")
