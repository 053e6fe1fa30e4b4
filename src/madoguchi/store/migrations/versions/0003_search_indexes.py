"""search indexes (kana/name/address prefix), identity checks before a case exists

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# Kana and name searches use byte-order ("C") collation: one btree then serves both the prefix LIKE
# and the ORDER BY ... LIMIT of the result list, whatever the database's own collation is.
PG_INDEXES = (
    ("ix_persons_kana_current", 'persons ((kana_key COLLATE "C"), birth_date, atena_no) WHERE status = \'1\''),
    ("ix_persons_kana_removed", 'persons ((kana_key COLLATE "C"), birth_date, atena_no) WHERE status <> \'1\''),
    ("ix_persons_alias_kana", 'persons ((alias_kana_key COLLATE "C"), birth_date, atena_no)'),
    ("ix_persons_name_current",
     'persons ((replace(name, \'\u3000\', \'\') COLLATE "C"), birth_date, atena_no) WHERE status = \'1\''),
    ("ix_persons_name_removed",
     'persons ((replace(name, \'\u3000\', \'\') COLLATE "C"), birth_date, atena_no) WHERE status <> \'1\''),
    ("ix_persons_alias_name", 'persons ((alias COLLATE "C"), birth_date, atena_no)'),
    ("ix_persons_householder", "persons (household_no) WHERE is_householder"),
    # Searched with >= / < (leakproof), not LIKE: under row-level security a non-leakproof LIKE
    # may not be used as an index condition, and would scan every address.
    ("ix_person_addresses_key_prefix", 'person_addresses ((address_key COLLATE "C"))'),
    ("ix_notice_reads_login", "notice_reads (login)"),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name, spec in PG_INDEXES:
            op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {spec}")
    else:
        op.create_index("ix_persons_alias_kana_key", "persons", ["alias_kana_key"])
        op.create_index("ix_person_addresses_address_key", "person_addresses", ["address_key"])
        op.create_index("ix_notice_reads_login", "notice_reads", ["login"])
    # An identity check may be recorded before the visit's case is opened, then attached.
    with op.batch_alter_table("identity_checks") as batch:
        batch.alter_column("case_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    bind = op.get_bind()
    op.execute("DELETE FROM identity_checks WHERE case_id IS NULL")
    with op.batch_alter_table("identity_checks") as batch:
        batch.alter_column("case_id", existing_type=sa.Integer(), nullable=False)
    if bind.dialect.name == "postgresql":
        for name, _spec in PG_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    else:
        op.drop_index("ix_notice_reads_login", "notice_reads")
        op.drop_index("ix_person_addresses_address_key", "person_addresses")
        op.drop_index("ix_persons_alias_kana_key", "persons")
