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

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

log = logging.getLogger(__name__)
MARGIN = 25 * mm

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


class PageWriter:
    """Lines of Chinese text down A4 pages, wrapped to the margins, a new page when one is full."""

    def __init__(self, canvas: Canvas, font: str) -> None:
        self.canvas = canvas
        self.font = font
        self.width, self.height = A4
        self.y = self.height - MARGIN

    def line(self, text: str, size: float = 11, indent: float = 0, line_height: float = 1.6) -> None:
        usable = self.width - 2 * MARGIN - indent
        for part in wrap(text, usable, size, self.font) or [""]:
            if self.y < MARGIN + 10 * mm:
                self.canvas.showPage()
                self.y = self.height - MARGIN
            self.canvas.setFont(self.font, size)
            self.canvas.drawString(MARGIN + indent, self.y, part)
            self.y -= size * line_height
        self.y -= 1.5 * mm

    def title(self, text: str) -> None:
        self.canvas.setFont(self.font, 20)
        self.canvas.drawCentredString(self.width / 2, self.y, text)
        self.y -= 14 * mm
