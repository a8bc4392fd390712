"""Chinese text in PDFs: ReportLab's built-in CID font STSong-Light (no font file needed) and line wrapping."""

from __future__ import annotations

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont

FONT = "STSong-Light"


def register_font() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def wrap(text: str, width: float, size: float) -> list[str]:
    """Break `text` into lines no wider than `width` points; Chinese breaks between any two characters."""
    lines, line = [], ""
    for char in text:
        if pdfmetrics.stringWidth(line + char, FONT, size) > width:
            lines.append(line)
            line = char
        else:
            line += char
    return [*lines, line] if line else lines
