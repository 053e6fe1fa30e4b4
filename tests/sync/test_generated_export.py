"""The synthetic generator's export loads cleanly through the default layout (the two must agree)."""

from __future__ import annotations

from kikan_fixtures import TODAY
from sqlalchemy import text

from madoguchi.sync.generator import generate_export
from madoguchi.sync.importer import import_export


def test_generated_export_loads_without_issues(any_db, tmp_path):
    folder = generate_export(tmp_path / "gen", 400, seed=7, today=TODAY)
    r = import_export(any_db, folder, today=TODAY, workers=2)
    assert r.outcome == "ok" and r.issues == []
    assert r.counts["residents"]["loaded"] == 400
    with any_db.engine.connect() as c:
        persons = c.execute(text("SELECT COUNT(*) FROM persons")).scalar()
        quals = c.execute(text("SELECT COUNT(*) FROM qualifications")).scalar()
        heads = c.execute(text("SELECT COUNT(DISTINCT household_no) FROM persons WHERE is_householder = :t "
                               "AND status = '1'"), {"t": True}).scalar()
    assert persons == 400 and quals == r.counts["qualifications"]["loaded"] > 0
    assert heads > 100
    again = import_export(any_db, folder, today=TODAY)
    assert again.outcome == "unchanged" and again.same_export
