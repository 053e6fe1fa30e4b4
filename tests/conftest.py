"""Shared fixtures: real PostgreSQL databases, SQLite databases, offscreen Qt."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import pgtools  # noqa: E402

from madoguchi.store import migrate  # noqa: E402
from madoguchi.store.db import Database  # noqa: E402

# Where tests save screenshots and rendered samples for a person to look at (README names it).
ARTIFACTS = Path(os.environ.get("MADOGUCHI_ARTIFACTS", ROOT / "artifacts"))


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def _pg_template():
    """One migrated database per session; each test gets a copy of it."""
    pgtools.DEFER_LOCAL_DROPS = True
    name = pgtools.create_database("mdg_template")
    db = Database.connect(pgtools.url_for(name))
    migrate.upgrade(db.engine)
    db.dispose()
    yield name
    pgtools.drop_database(name)
    pgtools.flush_deferred()
    pgtools.DEFER_LOCAL_DROPS = False


@pytest.fixture
def pg_url(_pg_template):
    """A fresh, migrated database on the local PostgreSQL; dropped afterwards. Superuser URL."""
    name = pgtools.create_database_from(_pg_template)
    yield pgtools.url_for(name)
    pgtools.drop_database(name)


@pytest.fixture
def pg_db(pg_url):
    db = Database.connect(pg_url)
    yield db
    db.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'madoguchi.sqlite3'}"
    db = Database.connect(url)
    migrate.upgrade(db.engine)
    db.dispose()
    return url


@pytest.fixture
def sqlite_db(sqlite_url):
    db = Database.connect(sqlite_url)
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request):
    """Run a test on both dialects: the same code path must serve demo and production."""
    yield request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


@pytest.fixture(scope="session")
def scram_cluster():
    cluster = pgtools.ScramCluster().start()
    yield cluster
    cluster.stop()


# --- secrets: no test reads or writes the machine's real keyring or secrets file ---------------------

class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps its entries in a dict (keyring's own extension point)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise PasswordDeleteError("not stored") from None


@pytest.fixture(autouse=True)
def memory_keyring(monkeypatch) -> MemoryKeyring:
    """Every test starts with an empty in-memory keyring and no MADOGUCHI_SECRETS_FILE."""
    monkeypatch.delenv("MADOGUCHI_SECRETS_FILE", raising=False)
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


# --- TLS: the city CA, a server that wants a client certificate, a migrated database with a clerk ----

@pytest.fixture(scope="session")
def tls_pki():
    import tlstools
    return tlstools.CA.create(), tlstools.CA.create("他の組織の CA")


@pytest.fixture(scope="session")
def tls_cluster(tls_pki):
    import tlstools
    cluster = tlstools.TlsCluster(tls_pki[0]).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def tls_db(tls_cluster):
    """(database name, clerk login, clerk password) on the TLS cluster, schema migrated."""
    from madoguchi.services import staff
    from madoguchi.store.db import SessionInfo
    name = tls_cluster.create_database()
    db = Database.connect(tls_cluster.url(name))
    migrate.upgrade(db.engine)
    staff.add_staff(db, SessionInfo("it_admin", "server"), "clerk_tls", "窓口 太郎", "pw-clerk-tls-1", ["clerk"])
    db.dispose()
    return name, "clerk_tls", "pw-clerk-tls-1"


@pytest.fixture
def terminal_config(tmp_path, tls_pki):
    """make(port=, database=, **[server] overrides) -> config.toml of counter PC "PC07" (files in tmp_path/pc07)."""
    import tlstools

    def make(*, port: int = 5432, database: str = "madoguchi", **server):
        return tlstools.write_terminal(tmp_path / "pc07", *tls_pki, port=port, database=database, **server)
    return make


# --- 試験成績書 (D2): every run leaves a Japanese report of test items and results ----------------

_RESULTS: list[tuple[str, str]] = []
_AREAS = {"unit": "単体（業務規則）", "db": "データベース・セキュリティ", "sync": "基幹系データ連携",
          "services": "ユースケース", "procedures": "手続き定義", "printing": "帳票・印刷", "gui": "画面（pytest-qt）",
          "cases": "対応・異動入力", "e2e": "結合（ケースランナー）"}
_OUTCOME_JA = {"passed": "合格", "failed": "不合格", "skipped": "対象外"}


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _RESULTS.append((report.nodeid, report.outcome))


def pytest_configure(config):
    pgtools.DEFER_LOCAL_DROPS = True


def pytest_unconfigure(config):
    try:
        pgtools.flush_deferred()
    except Exception:  # the server may be gone; nothing to clean then
        pass


def pytest_sessionfinish(session, exitstatus):
    if not _RESULTS:
        return
    from datetime import datetime
    lines = ["# 試験成績書（自動生成）", "", f"実行日時: {datetime.now().isoformat(timespec='seconds')}", ""]
    by_area: dict[str, list[tuple[str, str]]] = {}
    for nodeid, outcome in _RESULTS:
        parts = nodeid.split("/")
        area = parts[1] if len(parts) > 2 and parts[0] == "tests" else "その他"
        by_area.setdefault(area, []).append((nodeid, outcome))
    lines.append("| 区分 | 試験項目数 | 合格 | 不合格 | 対象外 |")
    lines.append("|---|---|---|---|---|")
    for area, rows in sorted(by_area.items()):
        n = {k: sum(1 for _, o in rows if o == k) for k in ("passed", "failed", "skipped")}
        lines.append(f"| {_AREAS.get(area, area)} | {len(rows)} | {n['passed']} | {n['failed']} | {n['skipped']} |")
    for area, rows in sorted(by_area.items()):
        lines += ["", f"## {_AREAS.get(area, area)}", "", "| 試験項目 | 結果 |", "|---|---|"]
        lines += [f"| `{nodeid}` | {_OUTCOME_JA.get(o, o)} |" for nodeid, o in rows]
    try:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "試験成績書.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError:
        pass
