"""Household door plates: the QR code (PNG/SVG) and printable A4 sheets, 12 plates a page.

A plate's QR encodes only `<plates.url_prefix>/h/<token>`: a short URL that WeChat's "scan a plain QR code
to open the mini-program" rule can route, and nothing about the household. Codes use error correction
level Q with a fixed mask, drawn into the PDF as one path of run-length rectangles per code (a smaller,
faster file); `tests/test_plates_import.py` decodes printed sheets with a real QR reader.
Chinese text uses ReportLab's built-in CID font STSong-Light, so no font file is needed.

Everything here is plain, blocking and free of the rest of the server, so it runs in a worker process.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_Q
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from server.core.pdf import FONT, register_font, wrap

COLUMNS, ROWS = 3, 4
PER_PAGE = COLUMNS * ROWS
QR_SIZE = 40 * mm


@dataclass(frozen=True)
class Plate:
    url: str
    address: str
    village: str
    grid_worker: str
    hotline: str
    town: str


def plate_url(prefix: str, token: str) -> str:
    return f"{prefix.rstrip('/')}/h/{token}"


# The standard lets an encoder use any of the eight masks; trying all eight and scoring each (qrcode's
# default) was 90 % of the encoding time. Mask 2 (vertical stripes every third column) reads well on print.
MASK = 2


def _code(url: str, border: int, box_size: int = 10) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, border=border, box_size=box_size, mask_pattern=MASK)
    code.add_data(url)
    code.make(fit=True)
    return code


def qr_png(url: str, box_size: int = 10) -> bytes:
    buffer = io.BytesIO()
    _code(url, border=4, box_size=box_size).make_image().save(buffer)
    return buffer.getvalue()


def qr_svg(url: str) -> bytes:
    buffer = io.BytesIO()
    _code(url, border=4).make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
    return buffer.getvalue()


def qr_matrix(url: str) -> list[list[bool]]:
    """The code's modules, dark = True, without the quiet zone (the plate's margin provides it)."""
    return _code(url, border=0).get_matrix()


def _draw_qr(canvas: Canvas, matrix: list[list[bool]], x: float, y: float, size: float) -> None:
    """The code as one filled path of run-length rectangles (one PDF fill, not hundreds)."""
    module = size / len(matrix)
    path = canvas.beginPath()
    for row_index, row in enumerate(matrix):
        top = y + size - (row_index + 1) * module
        start = None
        for col_index, dark in enumerate([*row, False]):
            if dark and start is None:
                start = col_index
            elif not dark and start is not None:
                path.rect(x + start * module, top, (col_index - start) * module, module)
                start = None
    canvas.drawPath(path, stroke=0, fill=1)


def _draw_plate(
    canvas: Canvas, plate: Plate, matrix: list[list[bool]], x: float, y: float, width: float, height: float
) -> None:
    canvas.setLineWidth(0.6)
    canvas.setDash(2, 2)
    canvas.rect(x + 2 * mm, y + 2 * mm, width - 4 * mm, height - 4 * mm)  # cutting guide
    canvas.setDash()
    center = x + width / 2
    canvas.setFont(FONT, 11)
    canvas.drawCentredString(center, y + height - 10 * mm, f"{plate.town}  三源共治  一户一码")
    _draw_qr(canvas, matrix, center - QR_SIZE / 2, y + height - 12 * mm - QR_SIZE, QR_SIZE)
    canvas.setFont(FONT, 8.5)
    line_y = y + height - 17 * mm - QR_SIZE
    for line in wrap(plate.address, width - 10 * mm, 8.5)[:2]:
        canvas.drawCentredString(center, line_y, line)
        line_y -= 4 * mm
    canvas.setFont(FONT, 8)
    canvas.drawCentredString(center, line_y, f"网格员：{plate.grid_worker or '—'}    服务热线：{plate.hotline}")


def render_plates_pdf(
    plates: list[Plate],
    path: str | os.PathLike[str],
    progress: Callable[[int, int], None] | None = None,
    matrices: list[list[list[bool]]] | None = None,
) -> int:
    """Write the sheets to `path` (through a temporary file) and return the file's size in bytes.

    Encoding the codes is most of the work; a caller with spare cores can pass `matrices` made in parallel.
    """
    register_font()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    canvas = Canvas(str(partial), pagesize=A4, pageCompression=1)
    canvas.setTitle("门牌二维码")
    page_width, page_height = A4
    cell_width, cell_height = page_width / COLUMNS, page_height / ROWS
    for index, plate in enumerate(plates):
        slot = index % PER_PAGE
        if slot == 0 and index:
            canvas.showPage()
        column, row = slot % COLUMNS, slot // COLUMNS
        matrix = matrices[index] if matrices is not None else qr_matrix(plate.url)
        _draw_plate(
            canvas, plate, matrix, column * cell_width, page_height - (row + 1) * cell_height, cell_width, cell_height
        )
        if progress is not None and (slot == PER_PAGE - 1 or index == len(plates) - 1):
            progress(index + 1, len(plates))
    if not plates:
        canvas.setFont(FONT, 12)
        canvas.drawString(20 * mm, page_height - 20 * mm, "（该范围内没有登记住户）")
    canvas.save()
    partial.replace(target)
    return target.stat().st_size


def render_with_progress_file(plates: list[Plate], path: str, progress_path: str) -> int:
    """For a worker process: render, writing `done total` to `progress_path` after each page."""

    def report(done: int, total: int) -> None:
        tmp = progress_path + ".tmp"
        with contextlib.suppress(OSError):  # progress is a courtesy; the PDF is what matters
            Path(tmp).write_text(f"{done} {total}", encoding="ascii")
            os.replace(tmp, progress_path)

    return render_plates_pdf(plates, path, report)
