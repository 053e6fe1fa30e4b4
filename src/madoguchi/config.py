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
    """Where the counter app connects. File paths are absolute once loaded (see `load_config`).

    `sslcert`/`sslkey` are this terminal's client certificate and private key (PEM). The key's
    passphrase is never in the configuration: it lives in the credential store under service
    `madoguchi`, user `client-key:<terminal name>` (see `madoguchi.secret_store`).
    """

    host: str
    port: int = 5432
    database: str = "madoguchi"
    sslmode: str = "prefer"  # production: verify-full with the city's CA
    sslrootcert: str = ""
    sslcert: str = ""
    sslkey: str = ""

    @property
    def client_cert(self) -> bool:
        return bool(self.sslcert)

    def url(self, login: str, password: str) -> str:
        from sqlalchemy.engine import URL
        query = {"sslmode": self.sslmode}
        for key in ("sslrootcert", "sslcert", "sslkey"):
            if getattr(self, key):
                query[key] = getattr(self, key)
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
        profile = _profile(path, server)
    return AppConfig(profile=profile, terminal=term.get("name", base.terminal),
                     counter_no=str(term.get("counter_no", base.counter_no)),
                     training=bool(raw.get("training", False)),
                     data_dir=Path(raw.get("data_dir", base.data_dir)),
                     demo_residents=int(raw.get("demo_residents", base.demo_residents)))


_PASSPHRASE_KEYS = ("sslpassword", "password", "passphrase")


def _profile(path: Path, server: dict) -> ServerProfile:
    for key in _PASSPHRASE_KEYS:
        if key in server:
            raise KnownError(f"設定ファイル {path} の [server] に {key} が書かれています。パスワードやパスフレーズは"
                             "設定ファイルに書かないでください（誰でも読めます）。この行を削除し、鍵のパスフレーズは "
                             "`madoguchi-admin secret set client-key` で資格情報ストアに保存してください。")
    files = {key: _file_setting(path, server, key) for key in ("sslrootcert", "sslcert", "sslkey")}
    if bool(files["sslcert"]) != bool(files["sslkey"]):
        raise KnownError(f"設定ファイル {path} の [server] には sslcert（クライアント証明書）と sslkey（その秘密鍵）を"
                         "両方書いてください（使わない場合は両方とも削除します）。")
    return ServerProfile(host=server["host"], port=int(server.get("port", 5432)),
                         database=server.get("database", "madoguchi"), sslmode=server.get("sslmode", "prefer"),
                         **files)


def _file_setting(path: Path, server: dict, key: str) -> str:
    """A PEM path from [server]; a relative one is resolved against the configuration file's folder."""
    value = server.get(key, "")
    if not isinstance(value, str):
        raise KnownError(f"設定ファイル {path} の [server] {key} はファイルの場所を文字列で書いてください"
                         f"（例: {key} = 'tls/PC07.crt'）。")
    if not value or (key == "sslrootcert" and value == "system"):  # libpq: the OS's trusted roots
        return value
    file = Path(value).expanduser()
    return str(file if file.is_absolute() else (path.parent / file).resolve())
