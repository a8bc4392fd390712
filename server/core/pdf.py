"""Chinese text in PDFs, and line wrapping.

Two fonts, for two kinds of paper:
- A document people sign and keep (the 人民调解协议书) embeds a subset of a TrueType CJK font, so it prints
  the same on any machine and viewer: WenQuanYi Micro Hei from Debian's `fonts-wqy-microhei`, which
  `make setup` installs (README). Without it the document falls back to the plate font, with a warning.
- Plates, printed by the thousand on the town's own printer, use ReportLab's built-in CID font STSong-Light:
  no font file, nothing embedded, small files.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont

log = logging.getLogger(__name__)

FONT = "STSong-Light"
DOCUMENT_FONT = "WenQuanYiMicroHei"
DOCUMENT_FONT_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


def register_font() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


@cache
def document_font() -> str:
    """The name of the embedded font for signed documents, registered once; the plate font if none is installed."""
    for path in DOCUMENT_FONT_FILES:
        if Path(path).is_file():
            pdfmetrics.registerFont(TTFont(DOCUMENT_FONT, path, subfontIndex=0))
            return DOCUMENT_FONT
    log.warning("no CJK TrueType font installed (fonts-wqy-microhei): documents will not embed their font")
    register_font()
    return FONT


def wrap(text: str, width: float, size: float, font: str = FONT) -> list[str]:
    """Break `text` into lines no wider than `width` points; Chinese breaks between any two characters."""
    lines, line = [], ""
    for char in text:
        if pdfmetrics.stringWidth(line + char, font, size) > width:
            lines.append(line)
            line = char
        else:
            line += char
    return [*lines, line] if line else lines
