"""Helpers shared by the madoguchi-admin sub-commands."""

from __future__ import annotations

import argparse
import os

from madoguchi.errors import KnownError


def database_url(args: argparse.Namespace) -> str:
    """--database, else MADOGUCHI_DATABASE_URL, else a Japanese error saying how to set it."""
    url = getattr(args, "database", None) or os.environ.get("MADOGUCHI_DATABASE_URL")
    if not url:
        raise KnownError("接続先データベースが指定されていません。--database URL を付けるか、"
                         "環境変数 MADOGUCHI_DATABASE_URL を設定してください。")
    return url
