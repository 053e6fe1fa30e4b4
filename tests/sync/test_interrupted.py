"""A load killed half-way (after staging, or inside the swap transaction) changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kikan_fixtures import TODAY, base_residents, person, snapshot, write_export
from sqlalchemy import select

from madoguchi.store.models import ImportRun
from madoguchi.sync.importer import PAUSE_ENV, import_export

SRC = Path(__file__).resolve().parents[2] / "src"
SCRIPT = """
import sys
from datetime import date
from madoguchi.store.db import Database
from madoguchi.sync.importer import import_export
import_export(Database.connect(sys.argv[1]), sys.argv[2], actor="killed", today=date(2026, 11, 25))
"""


@pytest.mark.parametrize("point", ["after_staging", "in_swap"])
def test_killed_load_leaves_previous_data(any_db, tmp_path, point):
    import_export(any_db, write_export(tmp_path / "e1"), today=TODAY)
    before = snapshot(any_db)
    res = base_residents()
    res[0]["banchi"] = "2番地"
    del res[2]
    res.append(person("A006", "佐藤\u3000健", "サトウ\u3000ケン", "H5", head=True))
    changed = write_export(tmp_path / "e2", residents=res, export_id="E2")
    url = any_db.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, PAUSE_ENV: point, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, url, str(changed)], stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 60
        line = b""
        while b"MADOGUCHI_IMPORT_PAUSED" not in line:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "the loader ended before reaching the pause point"
            assert time.monotonic() < deadline
        # While the loader sits inside its transaction the clerks still read the previous data.
        assert snapshot(any_db) == before
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert proc.returncode != 0
    assert snapshot(any_db) == before
    # The next load succeeds and records that the killed one stopped half-way.
    r = import_export(any_db, changed, today=TODAY)
    assert r.outcome == "ok" and r.changes["persons"] == {"new": 1, "moved": 1, "changed": 0, "removed": 1}
    with any_db.session() as s:
        killed = s.scalars(select(ImportRun).where(ImportRun.actor == "killed")).one()
        assert killed.outcome == "failed" and "途中で止まりました" in killed.message


def test_file_rewritten_during_a_nightly_load_is_rejected(pg_db, tmp_path):
    """The nightly way hashes every record first and reads the changed ones afterwards: a file that
    changes in between is noticed (the manifest's SHA-256 only describes the file as it was)."""
    import_export(pg_db, write_export(tmp_path / "e1"), today=TODAY)
    before = snapshot(pg_db)
    res = base_residents()
    res[0]["banchi"] = "2番地"
    changed = write_export(tmp_path / "e2", residents=res, export_id="E2")
    url = pg_db.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, PAUSE_ENV: "after_scan", PAUSE_ENV + "_SECONDS": "3", "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, url, str(changed)], stderr=subprocess.PIPE, env=env)
    try:
        line = b""
        while b"MADOGUCHI_IMPORT_PAUSED" not in line:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "the loader ended before reaching the pause point"
        path = changed / "residents.csv"
        path.write_bytes(path.read_bytes().replace("2番地".encode(), "5番地".encode(), 1))  # same length
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) != 0
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert "取込の途中で書き換えられました" in err
    assert snapshot(pg_db) == before
