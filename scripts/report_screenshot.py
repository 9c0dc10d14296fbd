"""Screenshot an imgpar HTML report in headless Chromium (makes docs/report.png).

    imgpar convert sample_images --to webp --out OUT \\
        --report OUT/report.html --report OUT/report.json
    python scripts/report_screenshot.py OUT/report.html docs/report.png [--width 1200]

Uses the same dependency-free DevTools client as the browser test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from chromium import Chromium, find_chromium


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    binary = find_chromium()
    if binary is None:
        print("Chromium not found: apt-get install chromium", file=sys.stderr)
        return 2
    with Chromium(binary) as browser:
        browser.open(args.report.resolve().as_uri(), width=args.width, height=args.height,
                     mobile=args.width < 600)
        browser.wait_for("document.documentElement.dataset.rendered === 'true'")
        errors = browser.errors()
        if errors:
            print("page errors:", *errors, sep="\n  ", file=sys.stderr)
            return 1
        browser.screenshot(args.png)
    print(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
