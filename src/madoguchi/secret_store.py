"""Where secrets live: the OS credential store (`keyring`), or an owner-only file where there is none.

Every secret is stored under keyring service `madoguchi` with a user name that says what it is:

- `client-key:<terminal>` — the passphrase of a counter PC's TLS client key (Windows credential manager);
- `database:<role>` — a server job's database password, filled into a URL that has none.

Choice of store (`open_store`): the file named by `MADOGUCHI_SECRETS_FILE` if that is set; otherwise
keyring's backend, unless keyring has no usable one (`keyring.backends.fail.Keyring`, typical on a
headless Linux server), in which case `<user config dir>/madoguchi/secrets.json`. The file is JSON
`{"<user name>": "<secret>"}`, written with mode 0600 and refused when group or others can read it.

On a counter PC the store is the credential manager of the Windows user who runs the app, so the
passphrase must be saved while logged in as that user.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Protocol

import platformdirs

from madoguchi.errors import KnownError

SERVICE = "madoguchi"
SECRETS_FILE_ENV = "MADOGUCHI_SECRETS_FILE"


def client_key_entry(terminal: str) -> str:
    return f"client-key:{terminal}"


def database_entry(role: str) -> str:
    return f"database:{role}"


class SecretStore(Protocol):
    label: str  # Japanese, names the place for messages ("Windows の資格情報マネージャ", "ファイル …")

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> bool: ...


class KeyringStore:
    """The OS credential store through `keyring` (Windows: the user's credential manager)."""

    def __init__(self, backend: object) -> None:
        self.backend = backend
        kind = type(backend).__module__ + "." + type(backend).__name__
        self.label = ("Windows の資格情報マネージャ" if kind.startswith("keyring.backends.Windows")
                      else f"OS の資格情報ストア（keyring: {kind}）")

    def _fail(self, exc: Exception) -> KnownError:
        return KnownError(f"{self.label}を使えません（{exc}）。Windows では資格情報マネージャのサービスが動いているか、"
                          f"Linux サーバでは環境変数 {SECRETS_FILE_ENV} で秘密情報のファイルを指定してください。",
                          detail=repr(exc))

    def get(self, name: str) -> str | None:
        from keyring.errors import KeyringError
        try:
            return self.backend.get_password(SERVICE, name)
        except KeyringError as exc:
            raise self._fail(exc) from exc

    def set(self, name: str, value: str) -> None:
        from keyring.errors import KeyringError
        try:
            self.backend.set_password(SERVICE, name, value)
        except KeyringError as exc:
            raise self._fail(exc) from exc

    def delete(self, name: str) -> bool:
        from keyring.errors import KeyringError, PasswordDeleteError
        try:
            if self.backend.get_password(SERVICE, name) is None:
                return False
            self.backend.delete_password(SERVICE, name)
        except PasswordDeleteError:
            return False
        except KeyringError as exc:
            raise self._fail(exc) from exc
        return True


class FileStore:
    """A JSON file only its owner may read (mode 0600); refused when group or others have access."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = f"ファイル {path}"

    def _read(self) -> dict[str, str]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        if os.name == "posix" and st.st_mode & 0o077:
            raise KnownError(f"秘密情報のファイル {self.path} は所有者以外も読める設定のため、使いません"
                             f"（権限 {stat.filemode(st.st_mode)}）。`chmod 600 {self.path}` を実行してから、"
                             "もう一度実行してください。")
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except PermissionError as exc:
            raise KnownError(f"秘密情報のファイル {self.path} を読む権限がありません。ファイルの所有者"
                             "（ジョブを実行するユーザ）で実行してください。") from exc
        except (OSError, ValueError) as exc:
            raise KnownError(f"秘密情報のファイル {self.path} を読めません（{exc}）。"
                             "`madoguchi-admin secret set` で保存し直してください。") from exc
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise KnownError(f"秘密情報のファイル {self.path} の形式が正しくありません。"
                             "`madoguchi-admin secret set` で保存し直してください。")
        return data

    def _write(self, data: dict[str, str]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            old = self.path.stat() if self.path.exists() else None
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            if old is not None and hasattr(os, "geteuid") and os.geteuid() == 0:
                os.chown(tmp, old.st_uid, old.st_gid)  # root edits the job user's file: it stays theirs
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise KnownError(f"秘密情報のファイル {self.path} に書き込めません（{exc.strerror or exc}）。"
                             "フォルダの所有者（ジョブを実行するユーザ）で実行するか、"
                             f"環境変数 {SECRETS_FILE_ENV} で書き込める場所を指定してください。") from exc

    def get(self, name: str) -> str | None:
        return self._read().get(name)

    def set(self, name: str, value: str) -> None:
        data = self._read()
        data[name] = value
        self._write(data)

    def delete(self, name: str) -> bool:
        data = self._read()
        if name not in data:
            return False
        del data[name]
        self._write(data)
        return True


def keyring_usable(backend: object) -> bool:
    """False for keyring's stand-ins that cannot keep anything (`fail`, `null`)."""
    from keyring.backends import fail, null
    return not isinstance(backend, (fail.Keyring, null.Keyring))


def default_file() -> Path:
    return Path(platformdirs.user_config_dir("madoguchi")) / "secrets.json"


def open_store(environ: dict[str, str] | None = None) -> SecretStore:
    """The store this process uses (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    if env.get(SECRETS_FILE_ENV):
        return FileStore(Path(env[SECRETS_FILE_ENV]))
    import keyring
    backend = keyring.get_keyring()
    if keyring_usable(backend):
        return KeyringStore(backend)
    return FileStore(default_file())

