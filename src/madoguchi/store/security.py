"""Groups, permissions and the PostgreSQL roles that enforce them.

Group role names are `madoguchi_<code>`; every group role is a member of `madoguchi_staff`,
which carries the privileges common to all staff. Staff members are login roles (SCRAM).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GroupDef:
    code: str
    name: str
    description: str
    permissions: tuple[str, ...]

    @property
    def role(self) -> str:
        return f"madoguchi_{self.code}"


BASE_ROLE = "madoguchi_staff"

GROUPS: tuple[GroupDef, ...] = (
    GroupDef("clerk", "窓口職員", "宛名の検索・閲覧、対応・異動・手続きの受付",
             ("resident.read", "case.write", "notice.post")),
    GroupDef("cert", "証明発行", "証明書の交付請求の受付",
             ("resident.read", "case.write", "certificate.issue")),
    GroupDef("shien", "支援措置担当", "支援措置対象者の住所の表示（理由を記録）",
             ("resident.read", "support_measure.unmask")),
    GroupDef("admin", "管理者", "職員・グループ・端末・お知らせの管理",
             ("admin.staff", "admin.settings", "notice.manage", "notice.post", "import.run")),
    GroupDef("audit", "監査", "操作ログの閲覧・検証", ("audit.read",)),
)

PERMISSION_LABELS = {
    "resident.read": "宛名の閲覧",
    "case.write": "対応の受付・編集",
    "certificate.issue": "証明書の交付請求",
    "support_measure.unmask": "支援措置対象者の住所表示",
    "admin.staff": "職員・グループ管理",
    "admin.settings": "設定管理",
    "notice.manage": "お知らせの管理",
    "notice.post": "お知らせの投稿",
    "import.run": "基幹系データの取込",
    "audit.read": "操作ログの閲覧",
}


def group(code: str) -> GroupDef:
    for g in GROUPS:
        if g.code == code:
            return g
    raise KeyError(code)


# Tables every staff member reads / writes. Everything else is owner-only unless granted below.
READ_TABLES = ("towns", "banchi", "katagaki", "persons", "person_addresses", "qualifications",
               "import_runs", "staff", "staff_groups", "group_members", "group_permissions", "terminals",
               "app_meta", "alembic_version")
WRITE_TABLES = ("cases", "case_events", "case_memos", "identity_checks", "move_entries", "answers",
                "selected_procedures", "certificate_requests", "case_outputs", "notices", "notice_reads",
                "user_settings")
ADMIN_WRITE_TABLES = ("staff", "group_members", "group_permissions", "terminals", "notices", "app_meta")

AUDIT_STAMP_FUNCTION = r"""
CREATE OR REPLACE FUNCTION madoguchi_audit_stamp() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  prev text;
BEGIN
  -- One writer at a time extends the chain; the lock is held until commit.
  PERFORM pg_advisory_xact_lock(7305092871);
  NEW.id := nextval('audit_events_id_seq');
  NEW.occurred_at := now();
  NEW.actor := session_user;
  NEW.terminal := coalesce(nullif(current_setting('madoguchi.terminal', true), ''), '');
  SELECT a.hash INTO prev FROM audit_events a ORDER BY a.id DESC LIMIT 1;
  NEW.prev_hash := coalesce(prev, '');
  NEW.hash := encode(sha256(convert_to(concat_ws('|', NEW.prev_hash, NEW.id::text,
      to_char(NEW.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
      NEW.actor, NEW.terminal, NEW.action, NEW.object_type, NEW.object_id, NEW.detail), 'UTF8')), 'hex');
  RETURN NEW;
END
$$;
"""


def audit_partition_sql(year: int) -> str:
    return (f"CREATE TABLE IF NOT EXISTS audit_events_{year} PARTITION OF audit_events "
            f"FOR VALUES FROM ('{year}-01-01 00:00:00+00') TO ('{year + 1}-01-01 00:00:00+00')")


def ensure_role_sql(role: str, *, login: bool = False) -> str:
    kind = "LOGIN" if login else "NOLOGIN"
    return (f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {role} {kind}; END IF; END $$")


def postgres_security_sql(database: str) -> list[str]:
    """Statements that create roles, grants and row-level security (idempotent)."""
    s: list[str] = [ensure_role_sql(BASE_ROLE)]
    for g in GROUPS:
        s.append(ensure_role_sql(g.role))
        s.append(f"GRANT {BASE_ROLE} TO {g.role}")
    s.append(f'REVOKE CONNECT ON DATABASE "{database}" FROM PUBLIC')
    s.append(f'GRANT CONNECT ON DATABASE "{database}" TO {BASE_ROLE}')
    s.append(f"GRANT USAGE ON SCHEMA public TO {BASE_ROLE}")
    for t in READ_TABLES:
        s.append(f"GRANT SELECT ON {t} TO {BASE_ROLE}")
    for t in WRITE_TABLES:
        s.append(f"GRANT SELECT, INSERT, UPDATE ON {t} TO {BASE_ROLE}")
    s.append(f"GRANT DELETE ON answers, selected_procedures, certificate_requests, user_settings TO {BASE_ROLE}")
    admin = group("admin").role
    for t in ADMIN_WRITE_TABLES:
        s.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO {admin}")
    s.append(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {BASE_ROLE}")
    s.append(f"REVOKE ALL ON audit_events_id_seq FROM {BASE_ROLE}")
    s.append(f"GRANT SELECT ON support_measures TO {group('shien').role}")
    s.append(f"GRANT SELECT ON audit_events, import_issues, import_changes TO {group('audit').role}")
    s.append(f"GRANT SELECT ON import_issues, import_changes TO {admin}")
    # Column privileges: only what a client may say; the trigger stamps the rest.
    s.append(f"GRANT INSERT (action, object_type, object_id, detail) ON audit_events TO {BASE_ROLE}")
    # Row-level security: a restricted person's address only for the support-measure group.
    s.append("ALTER TABLE person_addresses ENABLE ROW LEVEL SECURITY")
    s.append("DROP POLICY IF EXISTS person_addresses_read ON person_addresses")
    s.append("CREATE POLICY person_addresses_read ON person_addresses FOR SELECT USING "
             f"(NOT restricted OR pg_has_role(current_user, '{group('shien').role}', 'MEMBER'))")
    s.append("ALTER TABLE user_settings ENABLE ROW LEVEL SECURITY")
    s.append("DROP POLICY IF EXISTS user_settings_own ON user_settings")
    s.append("CREATE POLICY user_settings_own ON user_settings USING (login = current_user) "
             "WITH CHECK (login = current_user)")
    return s
