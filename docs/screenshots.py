"""The README's screenshots, remade from the demo: `.venv/bin/python docs/screenshots.py`.

Loads the seeded demo programme into a new SQLite store in a temporary folder, serves the dashboard over it
(as the browser tests do), and photographs the Overview and the Live session page in Chinese with headless
Debian Chromium. Writes docs/overview.png and docs/live.png, each kept under 300 KB.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path
from typing import Final

from PIL import Image

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: relief_live and the test helpers from this checkout

from relief_live import demo  # noqa: E402
from relief_live.store import Store  # noqa: E402
from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path, launch, stop, wait_ready  # noqa: E402

SHOTS: Final = {"overview": "?lang=zh", "live": "live?lang=zh"}  # file name -> page and its URL state
VIEWPORT: Final = {"width": 1280, "height": 900}
MAX_BYTES: Final = 300 * 1024


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'demo.sqlite3'}"
        store = Store(db)
        store.create()
        demo.load_demo(store)
        process, url = launch("dashboard.py", {"RELIEF_LIVE_DB": db}, log=Path(tmp) / "streamlit.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=VIEWPORT, locale="zh-CN")
                for name, path in SHOTS.items():
                    page.goto(f"{url}/{path}")
                    wait_ready(page, timeout=60_000)
                    page.wait_for_timeout(1_500)  # plotly draws its charts after the script has run
                    write(page.screenshot(full_page=False), ROOT / "docs" / f"{name}.png")
                browser.close()
        finally:
            stop(process)


def write(png: bytes, path: Path) -> None:
    """The screenshot as a palette PNG (a dashboard has few colours), smaller than MAX_BYTES."""
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    image.save(path, optimize=True)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{path.name} is {size // 1024} KB, over {MAX_BYTES // 1024} KB")
    print(f"wrote {path.relative_to(ROOT)} ({size // 1024} KB)")


if __name__ == "__main__":
    main()
