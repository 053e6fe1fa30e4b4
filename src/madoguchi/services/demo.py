"""Demo mode: an embedded SQLite database seeded with synthetic 深川市 residents.

The data go through the real path (generator → export folder → importer), so the demo shows what a
real load produces. Done once, when the database is new; a half-finished first start is redone.
Demo staff (synthetic, SQLite only): demo/demo (窓口職員+証明発行), shien/shien (支援措置担当),
admin/admin (管理者).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

from madoguchi.config import AppConfig
from madoguchi.services import audit
from madoguchi.services.auth import hash_password, system_info
from madoguchi.store import migrate
from madoguchi.store.db import Database
from madoguchi.store.models import AppMeta, GroupMember, Staff

SEED = 1228  # fixed: every demo shows the same town
SEEDED_KEY = "demo.seeded"
DEMO_STAFF = (
    ("demo", "demo", "窓口 太郎（デモ）", ("clerk", "cert")),
    ("shien", "shien", "支援 担当（デモ）", ("shien", "clerk")),
    ("admin", "admin", "管理 者（デモ）", ("admin", "clerk")),
)

Progress = Callable[[str, int, "int | None"], None]


def is_seeded(db: Database) -> bool:
    with db.session() as s:
        row = s.get(AppMeta, SEEDED_KEY)
        return row is not None and row.value != ""


def bootstrap(config: AppConfig, progress: Progress | None = None, *, today: date | None = None,
              residents: int | None = None) -> Database:
    """Open (and on first start create and seed) the demo database. Slow the first time: run it off
    the UI thread."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database.connect(config.demo_database_url)
    try:
        migrate.upgrade(db.engine)
        if not is_seeded(db):
            _seed(db, config, progress, today or date.today(), residents or config.demo_residents)
    except BaseException:
        db.dispose()
        raise
    return db


def _seed(db: Database, config: AppConfig, progress: Progress | None, today: date, residents: int) -> None:
    from madoguchi.sync.generator import generate_export
    from madoguchi.sync.importer import import_export

    report = progress or (lambda _label, _done, _total: None)
    work = Path(tempfile.mkdtemp(prefix="demo-export-", dir=config.data_dir))
    try:
        report("デモ用の住民データを作成しています", 0, None)
        folder = generate_export(work, residents, SEED, today)
        import_export(db, folder, actor="demo-setup", progress=progress, today=today)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report("デモ用の職員を登録しています", 0, None)
    who = system_info("demo-setup", config.terminal)
    with db.uow(who) as uow:
        s = uow.session
        for login, password, name, groups in DEMO_STAFF:
            if s.get(Staff, login) is None:
                # Short demo passwords on purpose; add_staff's rules are for real staff.
                s.add(Staff(login=login, display_name=name, password_hash=hash_password(password)))
                s.flush()
                for g in groups:
                    s.add(GroupMember(group_code=g, login=login))
        s.merge(AppMeta(key=SEEDED_KEY, value=f"{today.isoformat()} seed={SEED} residents={residents}"))
        audit.record(s, who, "demo.seed", "database", "", {"residents": residents, "seed": SEED})
        uow.commit()
