"""Backup and restore of the whole database (N4) with pg_dump / pg_restore, verified after restore."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from madoguchi.errors import KnownError

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/bin")


def _tool(name: str) -> str:
    for d in PG_BIN_DIRS:
        p = Path(d) / name
        if p.exists():
            return str(p)
    found = shutil.which(name)
    if not found:
        raise KnownError(f"{name} が見つかりません。PostgreSQL クライアント（postgresql-client）をインストールしてください。")
    return found


def _libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """The libpq connection of a SQLAlchemy URL for the PostgreSQL tools: a conninfo string that keeps
    everything the URL says (a Unix socket directory in ?host=, sslmode, certificates …); the password
    goes through the environment, never onto the command line."""
    u = make_url(url)
    if u.get_backend_name() != "postgresql":
        raise KnownError("バックアップは PostgreSQL のデータベースだけが対象です（デモ用 SQLite はファイルを複製してください）。")
    params: dict[str, str] = {k: v if isinstance(v, str) else v[-1] for k, v in u.query.items()}
    if u.host:
        params["host"] = u.host
    if u.port:
        params["port"] = str(u.port)
    params["user"] = u.username or "postgres"
    params["dbname"] = u.database or ""
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = u.password
    return [f"--dbname={make_conninfo(**params)}"], env


def create_backup(url: str, out: Path) -> Path:
    """A custom-format dump (compressed, restorable table by table), written atomically."""
    args, env = _libpq(url)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".part")
    proc = subprocess.run([_tool("pg_dump"), *args, "-Fc", "-f", str(tmp)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise KnownError(f"バックアップに失敗しました: {proc.stderr.strip()[:300]}")
    tmp.replace(out)
    return out


def restore_backup(url: str, dump: Path) -> None:
    """Restore into an EMPTY database (created beforehand); refuses to overwrite a populated one."""
    if not dump.exists():
        raise KnownError(f"バックアップファイル {dump} がありません。")
    args, env = _libpq(url)
    db = make_url(url).database or ""
    check = subprocess.run([_tool("psql"), *args, "-tAc",
                            "SELECT count(*) FROM information_schema.tables WHERE table_schema='public'"],
                           env=env, capture_output=True, text=True)
    if check.returncode != 0:
        raise KnownError(f"復元先のデータベースに接続できません: {check.stderr.strip()[:300]}")
    if check.stdout.strip() not in ("0", ""):
        raise KnownError(f"復元先のデータベース「{db}」は空ではありません。新しい空のデータベースを作成して指定してください。")
    proc = subprocess.run([_tool("pg_restore"), *args, "--exit-on-error", "--single-transaction", str(dump)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KnownError(f"復元に失敗しました（復元先は変更されていません）: {proc.stderr.strip()[:300]}")
