"""A monthly 以案定补 statement as an XLSX workbook: a summary sheet, then one sheet per unit, each with its
lines and a total row, Chinese headers, landscape and fitted to the page width for printing. Amounts are
written as exact decimals of yuan (from fen), formatted with two places.

Runs in a worker process (`server.core.workers`): a plain function of plain data.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from server.core.tables import print_layout
from server.core.vocabulary import DIFFICULTY_LABELS, OUTCOME_LABELS

HEADERS = (
    "案件编号",
    "调解员",
    "难度",
    "结果",
    "标准（元）",
    "奖励（元）",
    "分得（元）",
    "星级",
    "系数（%）",
    "补贴（元）",
    "异常",
    "说明",
)
EXCEPTION_LABELS = {
    "missing_difficulty": "未确认难度",
    "over_cap": "超出月度上限",
    "no_mediator": "未指定调解员",
    "not_payable": "结果不予补贴",
}
MONEY = "0.00"
STATE_LABELS = {"open": "待审核", "approved": "镇已审核，待县确认", "locked": "县已确认（锁定）"}


def _yuan(fen: int) -> Decimal:
    return Decimal(fen) / 100


def _sheet_title(name: str, used: set[str]) -> str:
    title = "".join(c for c in name if c not in "[]:*?/\\")[:28] or "未指定单位"
    base, n = title, 2
    while title in used:
        title, n = f"{base}{n}", n + 1
    used.add(title)
    return title


def render_statement(statement: dict[str, Any], town: str, units: dict[str, str]) -> bytes:
    book = Workbook()
    book.remove(book.worksheets[0])
    summary = book.create_sheet("汇总")
    title = f"{town} {statement['month']} 以案定补结算单（{STATE_LABELS.get(statement['state'], statement['state'])}）"
    summary.append([title])
    summary.append(["单位", "条目数", "补贴合计（元）"])
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for line in statement["lines"]:
        by_unit.setdefault(str(line["unit_id"]), []).append(line)
    for unit_id, lines in by_unit.items():
        summary.append([units.get(unit_id, "未指定单位"), len(lines), _yuan(sum(x["amount"] for x in lines))])
    summary.append(["合计", len(statement["lines"]), _yuan(statement["totals"]["total"])])
    for row in summary.iter_rows(min_row=3, min_col=3, max_col=3):
        row[0].number_format = MONEY
    summary["A1"].font = Font(bold=True, size=13)
    summary[f"A{summary.max_row}"].font = Font(bold=True)
    print_layout(summary, (30, 10, 16))

    used = {"汇总"}
    for unit_id, lines in by_unit.items():
        sheet = book.create_sheet(_sheet_title(units.get(unit_id, "未指定单位"), used))
        sheet.append([f"{units.get(unit_id, '未指定单位')} {statement['month']} 以案定补明细"])
        sheet.append(list(HEADERS))
        for line in lines:
            adjustment = line["kind"] == "adjustment"
            sheet.append(
                [
                    line.get("number") or "",
                    line.get("name") or "",
                    DIFFICULTY_LABELS.get(line.get("difficulty") or "", ""),
                    OUTCOME_LABELS.get(line.get("outcome") or "", "更正" if adjustment else ""),
                    _yuan(line["base"]),
                    _yuan(line["bonus"]),
                    _yuan(line["share"]),
                    line["star"],
                    line["factor"],
                    _yuan(line["amount"]),
                    "、".join(EXCEPTION_LABELS.get(e, e) for e in line["exceptions"]),
                    f"更正 {line['corrects_month']}：{line['reason']}" if adjustment else "",
                ]
            )
        sheet.append(["合计", "", "", "", "", "", "", "", "", _yuan(sum(x["amount"] for x in lines)), "", ""])
        for row in sheet.iter_rows(min_row=3, min_col=5, max_col=10):
            for cell in (row[0], row[1], row[2], row[5]):
                cell.number_format = MONEY
        sheet["A1"].font = Font(bold=True, size=12)
        sheet[f"A{sheet.max_row}"].font = Font(bold=True)
        print_layout(sheet, (18, 10, 6, 24, 11, 11, 11, 6, 9, 11, 16, 30))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
