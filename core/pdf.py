"""Pages printed to PDF by headless Chromium, with fonts from the project's Python install as if installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

SYSTEM_FONTCONFIG = "/etc/fonts/fonts.conf"
PDF_TIMEOUT_SECONDS = 120


class PdfFailed(RuntimeError):
    """Chromium could not print the page; the message says why."""


def _fontconfig(work: Path, font_files: Iterable[str]) -> Path:
    """A fontconfig file for Chromium: the system's fonts, and Noto Sans CJK as if it were installed.

    A font installed is used as it is; a web font (@font-face) Chromium first loads and checks whole, over a
    second for the 16 MB of each weight.
    """
    system = os.environ.get("FONTCONFIG_FILE", SYSTEM_FONTCONFIG)
    directories = "".join(f"<dir>{xml_escape(str(Path(path).parent))}</dir>" for path in font_files)
    config = work / "fonts.conf"
    config.write_text('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
                      f'<fontconfig><include ignore_missing="yes">{xml_escape(system)}</include>{directories}'
                      '</fontconfig>\n', encoding="utf-8")
    return config


def print_pdf(html: str, chromium: str, font_files: Iterable[str]) -> bytes:
    """The page printed by headless Chromium (``chromium``: the area's setting), with the fonts of ``font_files``
    (and the system's); the glyphs it uses are embedded."""
    executable = shutil.which(chromium)
    if executable is None:
        raise PdfFailed(f"Chromium not found ({chromium}); install Debian's chromium or set the area's "
                        "*_CHROMIUM setting")
    with tempfile.TemporaryDirectory(prefix="pdf-") as work:
        page, output = Path(work) / "page.html", Path(work) / "page.pdf"
        page.write_text(html, encoding="utf-8")
        command = [executable, "--headless", "--disable-gpu", "--no-pdf-header-footer", "--no-first-run",
                   f"--user-data-dir={work}/profile", f"--print-to-pdf={output}", page.as_uri()]
        if os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
        fonts = {"FONTCONFIG_FILE": str(_fontconfig(Path(work), font_files))}
        try:
            finished = subprocess.run(command, capture_output=True, timeout=PDF_TIMEOUT_SECONDS, check=False,
                                      env={**os.environ, **fonts})
        except subprocess.TimeoutExpired as exc:
            raise PdfFailed(f"Chromium did not finish within {PDF_TIMEOUT_SECONDS} s") from exc
        if finished.returncode != 0 or not output.exists():
            reason = finished.stderr.decode(errors="replace")[-500:]
            raise PdfFailed(f"Chromium failed ({finished.returncode}): {reason}")
        return output.read_bytes()
