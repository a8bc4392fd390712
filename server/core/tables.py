"""Reading spreadsheets that town staff upload: CSV (UTF-8 or GB18030, as Excel saves it) or XLSX."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from server.core.errors import ValidationFailed

CSV_TYPES = ("text/csv", "application/csv")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_TYPES = (*CSV_TYPES, XLSX_TYPE)
UPLOAD_HINT = "请上传 CSV（text/csv）或 Excel（.xlsx）文件"
MAX_ROWS = 20_000


def read_rows(
    data: bytes, content_type: str, headers: dict[str, str], required: tuple[str, ...]
) -> list[dict[str, str]]:
    """Rows as `{column: text}`, columns renamed by `headers` (Chinese → code); data rows start at row 2."""
    table = _xlsx_rows(data) if content_type == XLSX_TYPE or data[:2] == b"PK" else _csv_rows(data)
    if not table:
        raise ValidationFailed("文件是空的", code="import_empty")
    names = [headers.get(h.strip(), h.strip().lower()) for h in table[0]]
    missing = [c for c in required if c not in names]
    if missing:
        raise ValidationFailed(
            "缺少必需的列", code="import_columns", details=[{"field": c, "message": "缺少此列"} for c in missing]
        )
    if len(table) - 1 > MAX_ROWS:
        raise ValidationFailed(f"一次最多导入 {MAX_ROWS} 行", code="import_too_large")
    return [{name: (row[i] if i < len(row) else "").strip() for i, name in enumerate(names)} for row in table[1:]]


def _csv_rows(data: bytes) -> list[list[str]]:
    reader = csv.reader(io.StringIO(_decode(data)))
    try:
        return list(reader)
    except csv.Error as exc:  # a cell past the csv module's field limit, a stray NUL, a broken quote
        raise ValidationFailed(
            f"CSV 文件第 {reader.line_num} 行无法读取（{_csv_problem(exc)}）",
            code="import_unreadable",
            details=[{"field": f"row {reader.line_num}", "message": _csv_problem(exc)}],
        ) from exc


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"单元格内容超过 {csv.field_size_limit() // 1024} KB"
    if "NUL" in text or "null byte" in text:
        return "含有空字符"
    return "格式不正确"


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed("无法识别文件编码，请另存为 UTF-8 或 GB18030 的 CSV", code="import_encoding")


def _xlsx_rows(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ValidationFailed("无法读取该 Excel 文件", code="import_unreadable") from exc
    try:
        if not workbook.worksheets:
            raise ValidationFailed("该 Excel 文件里没有工作表", code="import_empty")
        rows = [[_cell(v) for v in row] for row in workbook.worksheets[0].iter_rows(values_only=True)]
    except ValidationFailed:
        raise
    except Exception as exc:  # the sheet's XML is cut off or damaged: openpyxl finds out while reading rows
        raise ValidationFailed("Excel 文件已损坏，无法读取工作表内容", code="import_unreadable") from exc
    finally:
        workbook.close()
    return [r for r in rows if any(cell.strip() for cell in r)]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone typed into a number cell
    if hasattr(value, "date") and hasattr(value, "hour"):
        return value.isoformat()
    return str(value)


def print_layout(sheet: Worksheet, widths: tuple[int, ...]) -> None:
    """Column widths (in characters, from column A), and A4 landscape fitted to the page width, the first two
    rows (title and headers) repeated on every printed page."""
    for index, width in enumerate(widths):
        sheet.column_dimensions[get_column_letter(index + 1)].width = width
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.print_title_rows = "1:2"
