"""A real headless Chromium (Debian's /usr/bin/chromium) for tests of pages we write.

Each call starts its own browser with a fresh profile in a temporary folder, offline: the
flags turn off every background request, so a page that needed the network would show
its gaps in the screenshot and the DOM. A missing Chromium fails the test, never skips it:
tests/run-all.sh installs it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
TIMEOUT = 120


def chromium() -> str:
    """The browser's path, or a failure saying how to get it."""
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    assert found, f"no Chromium at {CHROMIUM}: `apt-get install chromium` (tests/run-all.sh does)"
    return found


def _run(page: Path, *args: str) -> str:
    with tempfile.TemporaryDirectory(prefix="mt-chromium-") as profile:
        proc = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc.stdout


def dump_dom(page: Path) -> str:
    """The page's DOM after loading, as Chromium serialises it."""
    return _run(page, "--dump-dom")


def screenshot(page: Path, out: Path, width: int = 1200, height: int = 2000) -> Path:
    """A PNG of the page as Chromium draws it at `width` x `height`."""
    _run(page, f"--screenshot={out}", f"--window-size={width},{height}")
    assert out.exists(), f"chromium wrote no screenshot to {out}"
    return out


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    colours: int  # distinct colours in the image: 1 means a blank page


def read_png(path: Path) -> Png:
    """Size and number of colours of a PNG (Pillow comes with matplotlib)."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG", f"{path} is a {image.format}, not a PNG"
        rgb = image.convert("RGB")
        found = rgb.getcolors(maxcolors=1 << 24) or []
        return Png(image.width, image.height, len(found))
