"""The 人民调解协议书 (people's mediation agreement) as a printable A4 PDF."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from server.core.pdf import FONT, register_font, wrap

MARGIN = 25 * mm


class _Writer:
    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.width, self.height = A4
        self.y = self.height - MARGIN

    def line(self, text: str, size: float = 11, indent: float = 0, line_height: float = 1.6) -> None:
        usable = self.width - 2 * MARGIN - indent
        for part in wrap(text, usable, size) or [""]:
            if self.y < MARGIN + 10 * mm:
                self.canvas.showPage()
                self.y = self.height - MARGIN
            self.canvas.setFont(FONT, size)
            self.canvas.drawString(MARGIN + indent, self.y, part)
            self.y -= size * line_height
        self.y -= 1.5 * mm

    def title(self, text: str) -> None:
        self.canvas.setFont(FONT, 20)
        self.canvas.drawCentredString(self.width / 2, self.y, text)
        self.y -= 14 * mm


def render_agreement(case: dict[str, Any], committee: str, tz: Any) -> bytes:
    register_font()
    agreement = case["outcome"]["agreement"]
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4)
    canvas.setTitle(f"人民调解协议书 {case['number']}")
    w = _Writer(canvas)
    w.title("人民调解协议书")
    w.line(f"编号：{case['number']}", size=10)
    w.line("当事人：" + "、".join(agreement["parties"]))
    w.line("纠纷主要事实、争议事项：")
    w.line(agreement.get("facts") or case["description"], indent=8 * mm)
    w.line("经调解，当事人自愿达成如下协议：")
    for number, term in enumerate(agreement["terms"], start=1):
        w.line(f"{number}. {term}", indent=8 * mm)
    deadline = agreement["performance_deadline"]
    method = agreement.get("performance_method") or "按上述条款履行"
    w.line(f"履行方式、时限：{method}，于 {deadline} 前履行完毕。")
    w.line(
        "本协议自各方当事人签名（盖章）、人民调解员签名并加盖人民调解委员会印章之日起生效。"
        "本协议一式三份，当事人、人民调解委员会各持一份。当事人可自协议生效之日起三十日内共同向人民法院申请司法确认。"
    )
    w.y -= 6 * mm
    for party in agreement["parties"]:
        w.line(f"当事人（签名）：{party}            ________________", size=11)
    w.line("人民调解员（签名）：________________")
    w.y -= 6 * mm
    w.line(f"{committee}（印章）")
    concluded = case["outcome"]["at"]
    if isinstance(concluded, datetime):
        w.line(f"{concluded.astimezone(tz):%Y年%m月%d日}")
    canvas.save()
    return buffer.getvalue()
