"""PySide6 screens.

PySide6 is pinned to 6.11.3: 6.12.0 on Python 3.11 drops a reference to None on every Qt call
that returns void and aborts long sessions with "none_dealloc".
"""
