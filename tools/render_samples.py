"""Render every form template with the synthetic sample household to PDF and PNG.

Usage: PYTHONPATH=src python tools/render_samples.py [--out artifacts/samples] [--only ID ...]
The PNGs (via pdftoppm) are for a person to look at; tests check the text separately.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from madoguchi.printing import samples


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="artifacts/samples")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--dpi", type=int, default=80)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    have_ppm = shutil.which("pdftoppm") is not None
    for name, make in samples.sample_outputs().items():
        if args.only and name not in args.only:
            continue
        pdf = make()
        path = out / f"{name}.pdf"
        path.write_bytes(pdf)
        if have_ppm:
            subprocess.run(["pdftoppm", "-png", "-r", str(args.dpi), str(path), str(out / name)], check=True)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
