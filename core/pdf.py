"""Pages printed to PDF by headless Chromium, with Noto Sans CJK from the project's Python install as if installed
(cut to each page's characters with TrueType outlines, so the PDF embeds real CID fonts: see ``core.pdf_fonts``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from core import pdf_fonts

SYSTEM_FONTCONFIG = "/etc/fonts/fonts.conf"
PDF_TIMEOUT_SECONDS = 120


class PdfFailed(RuntimeError):
    """Chromium could not print the page; the message says why."""


def _fontconfig(work: Path, html: str) -> Path:
    """A fontconfig file for Chromium: the system's fonts, and Noto Sans CJK cut to the page's characters as if it
    were installed.

    A font installed is used as it is; a web font (@font-face) Chromium first loads and checks whole.
    """
    system = os.environ.get("FONTCONFIG_FILE", SYSTEM_FONTCONFIG)
    fonts = work / "fonts"
    pdf_fonts.write_subsets(html, fonts)
    config = work / "fonts.conf"
    config.write_text('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
                      f'<fontconfig><include ignore_missing="yes">{xml_escape(system)}</include>'
                      f'<dir>{xml_escape(str(fonts))}</dir><cachedir>{xml_escape(str(work))}/fc-cache</cachedir>'
                      '</fontconfig>\n', encoding="utf-8")
    return config


def print_pdf(html: str, chromium: str) -> bytes:
    """The page printed by headless Chromium (``chromium``: the area's setting; A4 unless the page says otherwise),
    the glyphs it uses embedded as subsetted CID fonts. A page in ``lang="zh-CN"`` gets the mainland glyph forms
    (the font's ``locl`` feature)."""
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
        fonts = {"FONTCONFIG_FILE": str(_fontconfig(Path(work), html))}
        try:
            finished = subprocess.run(command, capture_output=True, timeout=PDF_TIMEOUT_SECONDS, check=False,
                                      env={**os.environ, **fonts})
        except subprocess.TimeoutExpired as exc:
            raise PdfFailed(f"Chromium did not finish within {PDF_TIMEOUT_SECONDS} s") from exc
        if finished.returncode != 0 or not output.exists():
            reason = finished.stderr.decode(errors="replace")[-500:]
            raise PdfFailed(f"Chromium failed ({finished.returncode}): {reason}")
        return output.read_bytes()
