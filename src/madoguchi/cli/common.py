"""Helpers shared by the madoguchi-admin sub-commands."""

from __future__ import annotations

import argparse
import os

from madoguchi.errors import KnownError
from madoguchi.services.credentials import fill_database_password


def given_database_url(args: argparse.Namespace) -> str | None:
    """--database, else MADOGUCHI_DATABASE_URL, as given (no stored password added)."""
    return getattr(args, "database", None) or os.environ.get("MADOGUCHI_DATABASE_URL") or None


def database_url(args: argparse.Namespace) -> str:
    """--database, else MADOGUCHI_DATABASE_URL, else a Japanese error saying how to set it.

    A PostgreSQL URL that names a role but has no password gets the one saved with
    `madoguchi-admin secret set database` (keyring, or the owner-only secrets file), if any.
    """
    url = given_database_url(args)
    if not url:
        raise KnownError("接続先データベースが指定されていません。--database URL を付けるか、"
                         "環境変数 MADOGUCHI_DATABASE_URL を設定してください。")
    return fill_database_password(url)
