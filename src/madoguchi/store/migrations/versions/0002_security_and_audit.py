"""audit log (append-only, hash chain, yearly partitions), groups, roles, grants, RLS

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

from madoguchi.store import security

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

FIRST_YEAR, LAST_YEAR = 2024, 2040


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE audit_events_id_seq")
        op.execute("""
            CREATE TABLE audit_events (
              id bigint NOT NULL DEFAULT 0,
              occurred_at timestamptz NOT NULL DEFAULT now(),
              actor varchar(63) NOT NULL DEFAULT '',
              terminal varchar(63) NOT NULL DEFAULT '',
              action varchar(60) NOT NULL,
              object_type varchar(40) NOT NULL DEFAULT '',
              object_id varchar(100) NOT NULL DEFAULT '',
              detail text NOT NULL DEFAULT '',
              prev_hash varchar(64) NOT NULL DEFAULT '',
              hash varchar(64) NOT NULL DEFAULT '',
              CONSTRAINT pk_audit_events PRIMARY KEY (id, occurred_at)
            ) PARTITION BY RANGE (occurred_at)""")
        for year in range(FIRST_YEAR, LAST_YEAR + 1):
            op.execute(security.audit_partition_sql(year))
        op.execute("CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT")
        op.execute(security.AUDIT_STAMP_FUNCTION)
        op.execute("CREATE TRIGGER audit_events_stamp BEFORE INSERT ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION madoguchi_audit_stamp()")
        for stmt in security.postgres_security_sql(bind.engine.url.database or ""):
            op.execute(stmt)
    else:
        op.create_table(
            "audit_events",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("actor", sa.String(63), nullable=False, server_default=""),
            sa.Column("terminal", sa.String(63), nullable=False, server_default=""),
            sa.Column("action", sa.String(60), nullable=False),
            sa.Column("object_type", sa.String(40), nullable=False, server_default=""),
            sa.Column("object_id", sa.String(100), nullable=False, server_default=""),
            sa.Column("detail", sa.Text(), nullable=False, server_default=""),
            sa.Column("prev_hash", sa.String(64), nullable=False, server_default=""),
            sa.Column("hash", sa.String(64), nullable=False, server_default=""),
        )
    groups = sa.table("staff_groups", sa.column("code"), sa.column("name"), sa.column("description"))
    perms = sa.table("group_permissions", sa.column("group_code"), sa.column("permission"))
    op.bulk_insert(groups, [{"code": g.code, "name": g.name, "description": g.description}
                            for g in security.GROUPS])
    op.bulk_insert(perms, [{"group_code": g.code, "permission": p}
                           for g in security.GROUPS for p in g.permissions])


def downgrade() -> None:
    bind = op.get_bind()
    op.execute("DELETE FROM group_permissions")
    op.execute("DELETE FROM group_members")
    op.execute("DELETE FROM staff_groups")
    if bind.dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS person_addresses_read ON person_addresses")
        op.execute("ALTER TABLE person_addresses DISABLE ROW LEVEL SECURITY")
        op.execute("DROP POLICY IF EXISTS user_settings_own ON user_settings")
        op.execute("ALTER TABLE user_settings DISABLE ROW LEVEL SECURITY")
        op.execute("DROP TABLE audit_events")
        op.execute("DROP FUNCTION madoguchi_audit_stamp()")
        op.execute("DROP SEQUENCE audit_events_id_seq")
        # Roles are cluster-wide and may serve other databases: revoke here, never drop.
        db = bind.engine.url.database
        op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {security.BASE_ROLE}")
        for g in security.GROUPS:
            op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {g.role}")
        op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {security.BASE_ROLE}")
        op.execute(f'REVOKE ALL ON DATABASE "{db}" FROM {security.BASE_ROLE}')
        op.execute(f"REVOKE USAGE ON SCHEMA public FROM {security.BASE_ROLE}")
    else:
        op.drop_table("audit_events")
