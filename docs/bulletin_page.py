"""The README's picture of the bulletin, remade from the demo: `.venv/bin/python docs/bulletin_page.py`.

Loads the seeded demo programme into a new SQLite store in a temporary folder, makes the Chinese weekly
bulletin of 2020-09-07 to 2020-09-13 with the real command, and turns its first page into docs/bulletin.png
with pdftoppm (Debian's poppler-utils), kept under 300 KB.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

from PIL import Image

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: relief_live from this checkout

from relief_live import demo  # noqa: E402
from relief_live.__main__ import main as command  # noqa: E402
from relief_live.store import Store  # noqa: E402

ENDING: Final = "2020-09-13"
DPI: Final = 80
MAX_BYTES: Final = 300 * 1024


def main() -> None:
    if shutil.which("pdftoppm") is None:
        sys.exit("docs/bulletin_page.py needs pdftoppm: apt-get install poppler-utils")
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'demo.sqlite3'}"
        store = Store(db)
        store.create()
        demo.load_demo(store)
        store.dispose()
        if command(["bulletin", "--db", db, "--ending", ENDING, "--format", "pdf", "--out", tmp]) != 0:
            sys.exit("the bulletin command failed")
        [pdf] = Path(tmp).glob("bulletin-*.pdf")
        subprocess.run(["pdftoppm", "-png", "-r", str(DPI), "-f", "1", "-singlefile", str(pdf), f"{tmp}/page"],
                       check=True)
        image = Image.open(f"{tmp}/page.png").convert("RGB").quantize(colors=64)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    if out.tell() > MAX_BYTES:
        sys.exit(f"the page came to {out.tell():,} bytes, over {MAX_BYTES:,}")
    (ROOT / "docs" / "bulletin.png").write_bytes(out.getvalue())
    print(f"wrote docs/bulletin.png ({out.tell():,} bytes)")


if __name__ == "__main__":
    main()
