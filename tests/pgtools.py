"""Real PostgreSQL for tests: fresh databases on the local server, and a private SCRAM cluster.

The machine's server (127.0.0.1:5432) trusts every login, which is fine for most tests but cannot
test passwords; `ScramCluster` starts a private cluster with `initdb -A scram-sha-256`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

PG_BIN = Path(os.environ.get("MADOGUCHI_PG_BIN", "/usr/lib/postgresql/15/bin"))
LOCAL_HOST = os.environ.get("MADOGUCHI_TEST_PGHOST", "127.0.0.1")
LOCAL_PORT = int(os.environ.get("MADOGUCHI_TEST_PGPORT", "5432"))
LOCAL_USER = os.environ.get("MADOGUCHI_TEST_PGUSER", "postgres")


def url_for(database: str, *, user: str = LOCAL_USER, password: str | None = None, host: str = LOCAL_HOST,
            port: int = LOCAL_PORT) -> str:
    return URL.create("postgresql+psycopg", username=user, password=password, host=host, port=port,
                      database=database).render_as_string(hide_password=False)


def _admin_conn(host: str, port: int, user: str, password: str | None) -> psycopg.Connection:
    return psycopg.connect(host=host, port=port, user=user, password=password, dbname="postgres",
                           autocommit=True, connect_timeout=5)


def create_database(prefix: str = "mdg_test", *, host: str = LOCAL_HOST, port: int = LOCAL_PORT,
                    user: str = LOCAL_USER, password: str | None = None) -> str:
    name = f"{prefix}_{secrets.token_hex(4)}"
    with _admin_conn(host, port, user, password) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return name


# DROP DATABASE forces a checkpoint (seconds each on this disk): during a test session the local
# server's drops are collected and done once at the end (`flush_deferred`).
DEFER_LOCAL_DROPS = False
_deferred_dbs: list[str] = []
_deferred_roles: list[str] = []


def _is_local(host: str, port: int) -> bool:
    return (host, port) == (LOCAL_HOST, LOCAL_PORT)


def create_database_from(template: str, prefix: str = "mdg_test") -> str:
    """A copy of an already migrated database (much faster than migrating again)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with _admin_conn(LOCAL_HOST, LOCAL_PORT, LOCAL_USER, None) as c:
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        # Database-level privileges are not copied from a template: mirror `db init`.
        c.execute(f'REVOKE CONNECT ON DATABASE "{name}" FROM PUBLIC')
        c.execute(f'GRANT CONNECT ON DATABASE "{name}" TO madoguchi_staff')
    return name


def drop_database(name: str, *, host: str = LOCAL_HOST, port: int = LOCAL_PORT, user: str = LOCAL_USER,
                  password: str | None = None) -> None:
    if DEFER_LOCAL_DROPS and _is_local(host, port):
        _deferred_dbs.append(name)
        return
    with _admin_conn(host, port, user, password) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_roles(names: list[str], *, host: str = LOCAL_HOST, port: int = LOCAL_PORT, user: str = LOCAL_USER,
               password: str | None = None) -> None:
    if DEFER_LOCAL_DROPS and _is_local(host, port):
        _deferred_roles.extend(names)
        return
    with _admin_conn(host, port, user, password) as c:
        for n in names:
            c.execute(f'DROP ROLE IF EXISTS "{n}"')


def flush_deferred() -> None:
    with _admin_conn(LOCAL_HOST, LOCAL_PORT, LOCAL_USER, None) as c:
        for name in _deferred_dbs:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for role in _deferred_roles:
            c.execute(f'DROP ROLE IF EXISTS "{role}"')
    _deferred_dbs.clear()
    _deferred_roles.clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class ScramCluster:
    """A throw-away PostgreSQL cluster that requires SCRAM passwords for every TCP login."""

    def __init__(self) -> None:
        self.password = secrets.token_urlsafe(16)
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mdg_scram_"))
        self.data = self.dir / "data"
        self.superuser = "postgres"

    def start(self) -> ScramCluster:
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        os.chmod(pwfile, 0o600)
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", self.superuser,
                                     "-A", "scram-sha-256", "--pwfile", str(pwfile), "-E", "UTF8",
                                     "--locale=C.UTF-8"]), check=True, capture_output=True)
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off {self.configure()}"
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w",
                                     "-l", str(self.dir / "log"), "start"]), check=True, capture_output=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                _admin_conn("127.0.0.1", self.port, self.superuser, self.password).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return self

    def configure(self) -> str:
        """Hook between initdb and start: subclasses write files into `self.data`, return extra options."""
        return ""

    def stop(self) -> None:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def create_database(self) -> str:
        return create_database(host="127.0.0.1", port=self.port, user=self.superuser, password=self.password)

    def url(self, database: str, user: str | None = None, password: str | None = None) -> str:
        return url_for(database, user=user or self.superuser,
                       password=password if user else self.password, host="127.0.0.1", port=self.port)
