"""One typed settings object, loaded at start-up (TOML) and passed in.

Without a configuration file the counter app runs in demo mode on an embedded SQLite database.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from madoguchi.errors import KnownError

APP = "madoguchi"


@dataclass(frozen=True)
class ServerProfile:
    host: str
    port: int = 5432
    database: str = "madoguchi"
    sslmode: str = "prefer"  # production: verify-full with the city's CA
    sslrootcert: str = ""

    def url(self, login: str, password: str) -> str:
        from sqlalchemy.engine import URL
        query = {"sslmode": self.sslmode}
        if self.sslrootcert:
            query["sslrootcert"] = self.sslrootcert
        return URL.create("postgresql+psycopg", username=login, password=password, host=self.host,
                          port=self.port, database=self.database, query=query).render_as_string(
                              hide_password=False)


@dataclass(frozen=True)
class AppConfig:
    profile: ServerProfile | None = None
    terminal: str = "demo-pc"
    counter_no: str = "1"
    training: bool = False
    data_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir(APP)))
    demo_residents: int = 20000

    @property
    def demo(self) -> bool:
        return self.profile is None

    @property
    def demo_database_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'demo.sqlite3'}"


def config_path() -> Path:
    env = os.environ.get("MADOGUCHI_CONFIG")
    return Path(env) if env else Path(platformdirs.user_config_dir(APP)) / "config.toml"


def load_config(path: Path | None = None) -> AppConfig:
    """Read the configuration; a missing file means demo mode. Errors are Japanese KnownErrors."""
    path = path or config_path()
    data_dir = os.environ.get("MADOGUCHI_DATA_DIR")
    base = AppConfig(data_dir=Path(data_dir)) if data_dir else AppConfig()
    if not path.exists():
        return base
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KnownError(f"設定ファイル {path} を読めません（{exc}）。書式を確認してください。") from exc
    term = raw.get("terminal", {})
    server = raw.get("server")
    profile = None
    if server:
        if "host" not in server:
            raise KnownError(f"設定ファイル {path} の [server] に host がありません。")
        profile = ServerProfile(host=server["host"], port=int(server.get("port", 5432)),
                                database=server.get("database", "madoguchi"),
                                sslmode=server.get("sslmode", "prefer"),
                                sslrootcert=server.get("sslrootcert", ""))
    return AppConfig(profile=profile, terminal=term.get("name", base.terminal),
                     counter_no=str(term.get("counter_no", base.counter_no)),
                     training=bool(raw.get("training", False)),
                     data_dir=Path(raw.get("data_dir", base.data_dir)),
                     demo_residents=int(raw.get("demo_residents", base.demo_residents)))
