"""tools/render_samples.py writes PDFs and PNGs (for a person to look at) of every sample output."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_render_samples_tool(artifacts_dir):
    out = artifacts_dir / "samples"
    subprocess.run([sys.executable, str(ROOT / "tools" / "render_samples.py"), "--out", str(out), "--dpi", "60"],
                   check=True, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
                   capture_output=True)
    for name in ("juki_idou", "koufu_seikyu", "guide", "juki_idou-masked", "juki_idou-training"):
        assert (out / f"{name}.pdf").stat().st_size > 10_000
        png = out / f"{name}-1.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
