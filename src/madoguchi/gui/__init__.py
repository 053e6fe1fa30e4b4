"""PySide6 screens."""

import sys

if sys.version_info < (3, 12):
    # PySide6 6.12.0 on Python 3.11 drops one reference to None on every call of a Qt method that
    # returns void (setText, hide, processEvents …). None is not immortal before Python 3.12, so a
    # long session aborts with "Fatal Python error: none_dealloc". Give None a practically endless
    # reference count (ob_refcnt is the first field of every object in release builds).
    import ctypes

    ctypes.c_ssize_t.from_address(id(None)).value += 1 << 48
