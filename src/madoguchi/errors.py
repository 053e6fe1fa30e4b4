"""Expected errors: each carries a Japanese message a clerk or IT can act on.

Anything that is not a KnownError is a bug and goes to the crash dialog / log.
"""

from __future__ import annotations


class KnownError(Exception):
    """An expected failure with a Japanese message saying what happened and what to do."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class InputError(KnownError):
    """The user typed or supplied something invalid."""


class AuthError(KnownError):
    """Login failed: wrong password, disabled account …"""


class ConnectionFailed(KnownError):
    """The database server could not be reached."""


class SchemaMismatch(KnownError):
    """The database schema is older or newer than this application."""


class PermissionDenied(KnownError):
    """The current staff member lacks the right for this action."""


class StaleWrite(KnownError):
    """A write was based on an out-of-date copy (optimistic locking) or the case was taken over."""


class ImportFailed(KnownError):
    """A core-system import was rejected; previous data is unchanged."""


class PrintFailed(KnownError):
    """Printing failed; case data is unchanged and the print can be retried."""


class TlsError(KnownError):
    """The TLS set-up does not fit: client certificate, its key or passphrase, the city CA, the server's name.

    IT has to act (retrying does not help); the message says what and where.
    """
