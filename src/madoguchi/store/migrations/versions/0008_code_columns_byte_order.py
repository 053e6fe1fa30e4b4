"""Key and code columns sort in byte order ("C")

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# models.Code: 宛名番号, 世帯番号, 住民票コード, 町字コード and 資格の種別 are ASCII keys, so byte order
# is the order they already had; sorting them no longer goes through the locale (a first load of
# 1,000,000 residents sorts them for every primary key, unique check and index). All columns that
# are joined with each other change together: a join across two collations cannot use an index.
COLUMNS = (
    ("towns", "town_code", 16), ("banchi", "town_code", 16), ("katagaki", "town_code", 16),
    ("persons", "atena_no", 20), ("persons", "juminhyo_code", 11), ("persons", "household_no", 20),
    ("person_addresses", "atena_no", 20), ("person_addresses", "town_code", 16),
    ("qualifications", "atena_no", 20), ("qualifications", "kind", 40), ("support_measures", "atena_no", 20),
    ("import_changes", "atena_no", 20), ("cases", "subject_atena_no", 20), ("identity_checks", "atena_no", 20),
    ("certificate_requests", "subject_atena_no", 20),
)


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite compares bytes already
    for table, column, n in COLUMNS:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar({n}) COLLATE "{collation}"')


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
