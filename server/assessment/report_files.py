"""The assessment's documents: the XLSX report of a run and the one-page PDF briefing of a unit's month.

Both are plain functions of plain data, run in a worker process (`Context.heavy`). The workbook has one sheet
per view — scores and ranks, figures per unit, the three sources month by month with native Excel charts,
and the cases behind red figures — with Chinese headers, set column widths, A4 landscape. The briefing fits
one A4 page: the key figures with an arrow for the trend against the previous period, then the cases most
overdue and the open high-risk cases.
"""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Font, PatternFill
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from server.core.pdf import document_font, wrap
from server.core.tables import print_layout

RED = PatternFill("solid", fgColor="FFC7CE")
SOURCE_COLUMNS = (
    ("dispute_calls", "纠纷类警情数"),
    ("civil_filings", "民事诉讼立案数"),
    ("petitions", "信访件数"),
    ("irregular_petitions", "越级访件数"),
)
DEDUCTION_WORDS = {"criminal_incidents": "民转刑", "supervised_overdue": "督办超期", "notices_overdue": "通报逾期"}


def shown(figure: dict[str, Any]) -> Any:
    """A figure's value as a reader expects it: rates as percentages, nothing as 无数据."""
    value = figure["value"]
    if value is None:
        return "无数据"
    if figure["unit"] == "%":
        return round(value * 100, 1)
    return int(value) if float(value).is_integer() else value


def render_report(
    run: dict[str, Any], labels: dict[str, str], trend: list[dict[str, Any]], red: list[list[Any]]
) -> bytes:
    """The run's workbook. `labels`: figure key → words; `trend`: one row per month of the scope's sources;
    `red`: rows (unit, figure, number, state, category, registered) of the cases behind red figures."""
    book = Workbook()
    book.remove(book.worksheets[0])
    summary = book.create_sheet("总分排名")
    indicators = run["scheme"]["indicators"]
    summary.append([f"{run['scope_name']} {run['period']} 三源共治考核得分与排名（方案第 {run['scheme_version']} 版）"])
    summary.append(
        [
            "排名",
            "单位",
            "总分",
            *(f"{labels.get(i['figure'], i['figure'])}（{i['weight']}分）" for i in indicators),
            "扣分",
            "加分",
        ]
    )
    for unit in run["units"]:
        summary.append(
            [
                unit["rank"],
                unit["name"],
                unit["total"],
                *(i["score"] for i in unit["indicators"]),
                -sum(d["points"] for d in unit["deductions"]),
                unit["bonus_points"],
            ]
        )
    summary["A1"].font = Font(bold=True, size=13)
    print_layout(summary, (6, 16, 8, *(14 for _ in indicators), 8, 8))

    figures = book.create_sheet("指标明细")
    figures.append([f"{run['scope_name']} {run['period']} 各单位指标"])
    figures.append(["单位", "指标", "数值", "单位（计量）", "分子", "分母", "计算方法", "红色"])
    for unit in run["units"]:
        for figure in unit["figures"]:
            figures.append(
                [
                    unit["name"],
                    figure["label"],
                    shown(figure),
                    figure["unit"],
                    figure["numerator"],
                    figure["denominator"],
                    figure["how"],
                    "是" if figure["red"] else "",
                ]
            )
            if figure["red"]:
                for cell in figures[figures.max_row]:
                    cell.fill = RED
    figures["A1"].font = Font(bold=True, size=13)
    print_layout(figures, (16, 22, 10, 10, 8, 8, 60, 6))

    sources = book.create_sheet("三源趋势")
    sources.append([f"{run['scope_name']} 三源月度统计（各来源报送，含生成报表前的更正）"])
    sources.append(["月份", *(label for _, label in SOURCE_COLUMNS)])
    for row in trend:
        sources.append([row["month"], *(row["counts"].get(key) for key, _ in SOURCE_COLUMNS)])
    print_layout(sources, (10, 16, 16, 12, 12))
    if trend:
        last = 2 + len(trend)
        months = Reference(sources, min_col=1, min_row=3, max_row=last)
        data = Reference(sources, min_col=2, max_col=1 + len(SOURCE_COLUMNS), min_row=2, max_row=last)
        line = LineChart()
        line.title, line.y_axis.title, line.x_axis.title = "三源月度走势", "件数", "月份"
        line.add_data(data, titles_from_data=True)
        line.set_categories(months)
        line.width, line.height = 24, 9
        sources.add_chart(line, "G2")
        bar = BarChart()
        bar.title, bar.y_axis.title = "三源月度件数", "件数"
        bar.add_data(data, titles_from_data=True)
        bar.set_categories(months)
        bar.width, bar.height = 24, 9
        sources.add_chart(bar, "G22")

    behind = book.create_sheet("红色指标案件")
    behind.append(["红色指标背后的案件（须逐件核实）"])
    behind.append(["单位", "指标", "案件编号", "状态", "类别", "登记时间"])
    for case in red:
        behind.append(case)
    print_layout(behind, (16, 22, 20, 20, 16, 20))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def arrow(figure: dict[str, Any]) -> str:
    """↑ or ↓ against the previous period, → when equal, nothing without a comparison."""
    before, value = figure.get("previous_value"), figure["value"]
    if before is None or value is None:
        return ""
    return "↑" if value > before else ("↓" if value < before else "→")


def render_briefing(
    title: str, figures: list[dict[str, Any]], overdue: list[dict[str, str]], risky: list[dict[str, str]]
) -> bytes:
    """One A4 page: the title, the key figures with trend arrows, the most overdue and the high-risk cases."""
    font = document_font()
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    width, height = A4
    left, y = 50.0, height - 60
    page.setFont(font, 16)
    page.drawString(left, y, title)
    y -= 32
    page.setFont(font, 11)
    page.drawString(left, y, "一、主要指标（箭头为与上一周期相比）")
    y -= 20
    page.setFont(font, 10)
    for figure in figures:
        value = shown(figure)
        unit = "" if value == "无数据" else figure["unit"]
        colour = (0.8, 0, 0) if figure["red"] else (0, 0, 0)
        page.setFillColorRGB(*colour)
        page.drawString(left + 10, y, f"{figure['label']}")
        page.drawString(left + 220, y, f"{value}{unit} {arrow(figure)}")
        page.setFillColorRGB(0, 0, 0)
        y -= 16
    for heading, cases in (("二、超期最久的案件", overdue), ("三、在办高风险案件", risky)):
        y -= 12
        page.setFont(font, 11)
        page.drawString(left, y, heading)
        y -= 18
        page.setFont(font, 10)
        if not cases:
            page.drawString(left + 10, y, "无")
            y -= 16
        for case in cases:
            for line in wrap(f"{case['number']}  {case['text']}", width - 2 * left - 10, 10, font)[:2]:
                page.drawString(left + 10, y, line)
                y -= 14
    page.showPage()
    page.save()
    return buffer.getvalue()
