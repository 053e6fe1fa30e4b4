"""SQLAlchemy 2 tables. The same metadata serves PostgreSQL (production) and SQLite (demo).

Address columns of persons live in their own table, `person_addresses`, so that PostgreSQL
row-level security can hide a restricted (支援措置) person's whereabouts from roles without the
right, whatever query they run.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Integer, MetaData,
                        String, Text, UniqueConstraint, Uuid, func)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


TS = DateTime(timezone=True)
# The hash of the export record a row was loaded from (sync/records.py): a nightly load leaves rows
# whose record is unchanged alone. On person_addresses, not persons: the record holds the address,
# and row-level security hides that table's rows of a restricted person.
SourceHash = Uuid(as_uuid=False)


def Code(length: int | None = None) -> String:  # noqa: N802 - a column type, like String
    """A key or code column (宛名番号, 世帯番号, 町字コード …): byte order ("C") on PostgreSQL. The same
    order as the database's for these ASCII keys, but sorting it needs no locale: an index on one
    of them builds up to four times faster (1,000,000 住民票コード: 4.1 s → 0.9 s). Every column
    that is joined with another one is a Code, so that joins keep using indexes (migration 0008)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")

# --- address master ---------------------------------------------------------------------------


class Town(Base):
    """町字 of the city."""

    __tablename__ = "towns"
    town_code: Mapped[str] = mapped_column(Code(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kana: Mapped[str] = mapped_column(String(200), default="")
    kana_key: Mapped[str] = mapped_column(String(200), default="", index=True)
    postal_code: Mapped[str] = mapped_column(String(7), default="")


class Banchi(Base):
    __tablename__ = "banchi"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    town_code: Mapped[str] = mapped_column(Code(16))  # searched through uq_banchi_town_code
    # The 町字 name and reading as this row of the master gives them (the town row is their majority).
    town_name: Mapped[str] = mapped_column(String(100), default="")
    town_kana: Mapped[str] = mapped_column(String(200), default="")
    banchi: Mapped[str] = mapped_column(String(100))
    banchi_kana: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(7), default="")
    district: Mapped[str] = mapped_column(String(100), default="")
    source_hash: Mapped[str | None] = mapped_column(SourceHash)
    __table_args__ = (UniqueConstraint("town_code", "banchi"),)


class Katagaki(Base):
    __tablename__ = "katagaki"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    town_code: Mapped[str] = mapped_column(Code(16))
    banchi: Mapped[str] = mapped_column(String(100))
    katagaki: Mapped[str] = mapped_column(String(200))
    katagaki_kana: Mapped[str] = mapped_column(String(400), default="")
    source_hash: Mapped[str | None] = mapped_column(SourceHash)
    __table_args__ = (UniqueConstraint("town_code", "banchi", "katagaki"),)


# --- residents (copy of 基幹系) -------------------------------------------------------------------


class PersonRow(Base):
    """宛名. Non-address fields; readable by every clerk role."""

    __tablename__ = "persons"
    atena_no: Mapped[str] = mapped_column(Code(20), primary_key=True)
    juminhyo_code: Mapped[str] = mapped_column(Code(11), default="", index=True)
    household_no: Mapped[str] = mapped_column(Code(20), index=True)
    is_householder: Mapped[bool] = mapped_column(Boolean, default=False)
    relationship: Mapped[str] = mapped_column(String(40), default="")
    resident_kind: Mapped[str] = mapped_column(String(1), default="1")
    status: Mapped[str] = mapped_column(String(1), default="1")
    name: Mapped[str] = mapped_column(String(200))
    name_kana: Mapped[str] = mapped_column(String(400), default="")
    # index on SQLite only: PostgreSQL uses the byte-order ix_persons_kana_* (migrations 0003, 0005)
    kana_key: Mapped[str] = mapped_column(String(400), default="", index=True)
    former_surname: Mapped[str] = mapped_column(String(100), default="")
    alias: Mapped[str] = mapped_column(String(200), default="")
    alias_kana: Mapped[str] = mapped_column(String(400), default="")
    alias_kana_key: Mapped[str] = mapped_column(String(400), default="")
    romaji_name: Mapped[str] = mapped_column(String(200), default="")
    birth_date: Mapped[date] = mapped_column(Date, index=True)
    sex: Mapped[str] = mapped_column(String(1), default="")
    resident_since: Mapped[date | None] = mapped_column(Date)
    address_since: Mapped[date | None] = mapped_column(Date)
    honseki: Mapped[str] = mapped_column(String(300), default="")
    hittousha: Mapped[str] = mapped_column(String(200), default="")
    nationality: Mapped[str] = mapped_column(String(100), default="")
    residence_status: Mapped[str] = mapped_column(String(100), default="")
    residence_expiry: Mapped[date | None] = mapped_column(Date)
    mynumber_card_expiry: Mapped[date | None] = mapped_column(Date)
    e_cert_expiry: Mapped[date | None] = mapped_column(Date)
    removed_on: Mapped[date | None] = mapped_column(Date)
    removal_reason: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime | None] = mapped_column(TS)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    import_run_id: Mapped[int | None] = mapped_column(Integer)


class PersonAddressRow(Base):
    """住所 of a person. PostgreSQL RLS hides rows of restricted persons from unpermitted roles."""

    __tablename__ = "person_addresses"
    atena_no: Mapped[str] = mapped_column(Code(20), primary_key=True)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    postal_code: Mapped[str] = mapped_column(String(7), default="")
    town_code: Mapped[str] = mapped_column(Code(16), default="", index=True)
    banchi: Mapped[str] = mapped_column(String(100), default="")
    katagaki: Mapped[str] = mapped_column(String(200), default="")
    address_key: Mapped[str] = mapped_column(String(400), default="")
    moved_in_from: Mapped[str] = mapped_column(String(300), default="")
    source_hash: Mapped[str | None] = mapped_column(SourceHash)


class QualificationRow(Base):
    __tablename__ = "qualifications"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    atena_no: Mapped[str] = mapped_column(Code(20), index=True)
    kind: Mapped[str] = mapped_column(Code(40))
    role: Mapped[str] = mapped_column(String(20), default="insured")
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    detail: Mapped[str] = mapped_column(String(200), default="")
    source_hash: Mapped[str | None] = mapped_column(SourceHash)


class SupportMeasureRow(Base):
    """支援措置. Readable only by the support-measure group in PostgreSQL."""

    __tablename__ = "support_measures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    atena_no: Mapped[str] = mapped_column(Code(20), index=True)
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20), default="other")
    note: Mapped[str] = mapped_column(Text, default="")
    source_hash: Mapped[str | None] = mapped_column(SourceHash)


class ImportRun(Base):
    __tablename__ = "import_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20), default="full")
    export_id: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[datetime] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    outcome: Mapped[str] = mapped_column(String(20), default="running")  # running/ok/failed/unchanged
    message: Mapped[str] = mapped_column(Text, default="")
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)


class ImportChange(Base):
    """Per-person difference of a load from the previous one (new / moved / changed / removed)."""

    __tablename__ = "import_changes"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    atena_no: Mapped[str] = mapped_column(Code(20))
    change: Mapped[str] = mapped_column(String(20))


class ImportIssue(Base):
    """A bad row of an import: file, line, column, reason; the raw row kept for review (quarantine)."""

    __tablename__ = "import_issues"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    file: Mapped[str] = mapped_column(String(200))
    line: Mapped[int] = mapped_column(Integer)
    column: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text, default="")


# --- staff, groups, terminals ----------------------------------------------------------------------


class Staff(Base):
    """A staff member. In PostgreSQL `login` is also the member's own login role."""

    __tablename__ = "staff"
    login: Mapped[str] = mapped_column(String(63), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(100))
    kana: Mapped[str] = mapped_column(String(200), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    password_hash: Mapped[str] = mapped_column(String(200), default="")  # demo (SQLite) only


class StaffGroup(Base):
    """A group (PostgreSQL group role in production)."""

    __tablename__ = "staff_groups"
    code: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")


class GroupMember(Base):
    __tablename__ = "group_members"
    group_code: Mapped[str] = mapped_column(String(63), ForeignKey("staff_groups.code"), primary_key=True)
    login: Mapped[str] = mapped_column(String(63), ForeignKey("staff.login"), primary_key=True)


class GroupPermission(Base):
    """The permission matrix shown in the admin tab (the database enforces data access itself)."""

    __tablename__ = "group_permissions"
    group_code: Mapped[str] = mapped_column(String(63), ForeignKey("staff_groups.code"), primary_key=True)
    permission: Mapped[str] = mapped_column(String(63), primary_key=True)


class Terminal(Base):
    __tablename__ = "terminals"
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    counter_no: Mapped[str] = mapped_column(String(20), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    print_settings: Mapped[dict] = mapped_column(JSON, default=dict)
    last_seen: Mapped[datetime | None] = mapped_column(TS)


class UserSetting(Base):
    __tablename__ = "user_settings"
    login: Mapped[str] = mapped_column(String(63), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict | list | str | None] = mapped_column(JSON)


class AppMeta(Base):
    __tablename__ = "app_meta"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


# --- cases -------------------------------------------------------------------------------------------


class CaseRow(Base):
    """対応: one visit. `version` gives optimistic locking; holder_* says who works on it now."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_no: Mapped[str] = mapped_column(String(30), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    purpose: Mapped[str] = mapped_column(Text, default="")
    subject_atena_no: Mapped[str | None] = mapped_column(Code(20), index=True)
    visitor: Mapped[dict] = mapped_column(JSON, default=dict)
    opened_at: Mapped[datetime] = mapped_column(TS)
    opened_by: Mapped[str] = mapped_column(String(63))
    opened_terminal: Mapped[str] = mapped_column(String(63), default="")
    holder_login: Mapped[str | None] = mapped_column(String(63))
    holder_terminal: Mapped[str | None] = mapped_column(String(63))
    held_since: Mapped[datetime | None] = mapped_column(TS)
    counter_no: Mapped[str] = mapped_column(String(20), default="")
    training: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(TS)
    closed_at: Mapped[datetime | None] = mapped_column(TS)
    unmasked: Mapped[list] = mapped_column(JSON, default=list)  # atena_nos unmasked in this case
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    __mapper_args__ = {"version_id_col": version}


class CaseEvent(Base):
    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    case_id: Mapped[int] = mapped_column(Integer, ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(TS)
    login: Mapped[str] = mapped_column(String(63))
    terminal: Mapped[str] = mapped_column(String(63), default="")
    kind: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)


class CaseMemo(Base):
    __tablename__ = "case_memos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(Integer, ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(TS)
    login: Mapped[str] = mapped_column(String(63))
    text: Mapped[str] = mapped_column(Text)


class IdentityCheckRow(Base):
    __tablename__ = "identity_checks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("cases.id"), index=True)
    subject: Mapped[str] = mapped_column(String(20), default="visitor")  # visitor / proxy
    atena_no: Mapped[str | None] = mapped_column(Code(20))
    documents: Mapped[list] = mapped_column(JSON, default=list)
    stated: Mapped[dict] = mapped_column(JSON, default=dict)
    differences: Mapped[list] = mapped_column(JSON, default=list)
    result: Mapped[str] = mapped_column(String(20), default="ok")
    checked_by: Mapped[str] = mapped_column(String(63))
    at: Mapped[datetime] = mapped_column(TS)


class MoveEntryRow(Base):
    """The move of a case, as the grid edits it (serialised domain Move)."""

    __tablename__ = "move_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(Integer, ForeignKey("cases.id"), index=True)
    move_type: Mapped[str] = mapped_column(String(30))
    move_date: Mapped[date | None] = mapped_column(Date)
    notified_on: Mapped[date | None] = mapped_column(Date)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(TS)


class AnswerRow(Base):
    __tablename__ = "answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(Integer, ForeignKey("cases.id"))
    question_id: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(40), default="")
    value: Mapped[dict | list | str | int | bool | None] = mapped_column(JSON)
    answered_by: Mapped[str] = mapped_column(String(63), default="")
    at: Mapped[datetime] = mapped_column(TS)
    __table_args__ = (UniqueConstraint("case_id", "question_id", "subject"),)


class SelectedProcedure(Base):
    """A procedure of a case: listed automatically or added by hand; its progress (F17)."""

    __tablename__ = "selected_procedures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(Integer, ForeignKey("cases.id"), index=True)
    procedure_id: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(40), default="")
    source: Mapped[str] = mapped_column(String(10), default="auto")  # auto / manual
    selected: Mapped[bool] = mapped_column(Boolean, default=True)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    removed_reason: Mapped[str] = mapped_column(Text, default="")
    progress: Mapped[str] = mapped_column(String(20), default="todo")  # todo/guided/printed/done
    updated_at: Mapped[datetime] = mapped_column(TS)
    __table_args__ = (UniqueConstraint("case_id", "procedure_id", "subject"),)


class CertificateRequestRow(Base):
    __tablename__ = "certificate_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(Integer, ForeignKey("cases.id"), index=True)
    kind_id: Mapped[str] = mapped_column(String(100))
    subject_atena_no: Mapped[str | None] = mapped_column(Code(20))
    copies: Mapped[int] = mapped_column(Integer, default=1)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    purpose: Mapped[str] = mapped_column(Text, default="")
    requester_type: Mapped[str] = mapped_column(String(20), default="self")
    fee: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="requested")
    at: Mapped[datetime] = mapped_column(TS)


class OutputRow(Base):
    """A document produced for a case (form, guide, request form) and its print state."""

    __tablename__ = "case_outputs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(Integer, ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(20), default="rendered")  # rendered/printed/failed
    message: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(TS)


# --- notices -------------------------------------------------------------------------------------------


class NoticeRow(Base):
    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    posted_by: Mapped[str] = mapped_column(String(63))
    posted_at: Mapped[datetime] = mapped_column(TS)
    priority: Mapped[str] = mapped_column(String(10), default="normal")  # high / normal / low
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None] = mapped_column(TS)
    target_group: Mapped[str | None] = mapped_column(String(63))


class NoticeRead(Base):
    __tablename__ = "notice_reads"
    notice_id: Mapped[int] = mapped_column(Integer, ForeignKey("notices.id"), primary_key=True)
    login: Mapped[str] = mapped_column(String(63), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(TS)


# --- audit ------------------------------------------------------------------------------------------------


class AuditEvent(Base):
    """Append-only, hash-chained. In PostgreSQL a trigger stamps actor/time/hash and the table is
    partitioned by year (see migrations); in SQLite the service computes the same chain."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(TS, primary_key=True, server_default=func.now())
    actor: Mapped[str] = mapped_column(String(63), default="")
    terminal: Mapped[str] = mapped_column(String(63), default="")
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")
