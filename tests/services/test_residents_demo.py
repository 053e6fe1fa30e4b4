"""Demo mode: SQLite seeded through the real generator + importer, demo staff, only once."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from madoguchi.config import AppConfig
from madoguchi.services import auth, demo, residents
from madoguchi.store.models import AuditEvent, PersonRow


def test_bootstrap_seeds_once_and_demo_staff_log_in(tmp_path):
    cfg = AppConfig(data_dir=tmp_path / "data", demo_residents=400)
    steps = []
    db = demo.bootstrap(cfg, lambda label, n, total: steps.append(label), today=date(2026, 11, 25))
    try:
        assert demo.is_seeded(db) and steps
        with db.session() as s:
            n = s.scalar(select(func.count()).select_from(PersonRow))
        assert n >= 400
        clerk = auth.login_demo(db, "demo", "demo", "pc", "1")
        assert {"clerk", "cert"} <= clerk.groups and not clerk.can("support_measure.unmask")
        shien = auth.login_demo(db, "shien", "shien", "pc", "1")
        assert shien.can("support_measure.unmask")
        admin = auth.login_demo(db, "admin", "admin", "pc", "1")
        assert admin.can("admin.staff")
        hits = residents.search(db, clerk, "さ")
        assert hits and all(h.kana.startswith("サ") for h in hits)
    finally:
        db.dispose()
    again = demo.bootstrap(cfg)
    try:
        with again.session() as s:
            seeds = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "demo.seed"))
            assert seeds == 1
            assert s.scalar(select(func.count()).select_from(PersonRow)) == n
    finally:
        again.dispose()
