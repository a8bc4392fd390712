"""The 人民调解协议书 (people's mediation agreement) as a printable A4 PDF.

The sheet is what a valid agreement carries (司法部《人民调解文书格式》): each party's name, sex, birth date
and age, ID number, address and contact; the facts; the terms; how and by when they are performed; the
parties' and the mediator's signatures; and the issuing 人民调解委员会 with the place for its seal. The
printed original for the parties carries full numbers; a copy for anyone else masks them. The font is
embedded (a subset), so the document prints the same on any machine.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from server.core.pdf import PageWriter, document_font
from server.core.pii import age_on

BLANK = "________"


@dataclass(frozen=True)
class PartyLine:
    """One party as printed; None prints a blank for the parties to fill in by hand."""

    name: str
    sex: str | None = None
    born: date | None = None
    id_number: str | None = None
    address: str | None = None
    phone: str | None = None

    def describe(self, on: date) -> str:
        born = f"{self.born:%Y年%m月%d日}出生（{age_on(self.born, on)}岁）" if self.born else f"出生日期{BLANK}"
        return (
            f"{self.name}，性别{self.sex or BLANK}，{born}，身份证号码{self.id_number or BLANK}，"
            f"住所{self.address or BLANK}，联系方式{self.phone or BLANK}"
        )


@dataclass(frozen=True)
class AgreementSheet:
    number: str
    committee: str
    parties: list[PartyLine]
    facts: str
    terms: list[str]
    performance_deadline: str
    performance_method: str
    mediators: list[str]
    signed_on: date
    original: bool = True


def render_agreement(sheet: AgreementSheet) -> bytes:
    font = document_font()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, initialFontName=font)  # type: ignore[arg-type]  # stub says float; no Helvetica left behind
    canvas.setTitle(f"人民调解协议书 {sheet.number}")
    canvas.setAuthor(sheet.committee)
    w = PageWriter(canvas, font)
    w.title("人民调解协议书")
    copy_note = "" if sheet.original else "（副本：个人信息已遮蔽，原件由当事人及调委会持有）"
    w.line(f"编号：{sheet.number}{copy_note}", size=10)
    for party in sheet.parties:
        w.line("当事人：" + party.describe(sheet.signed_on))
    w.line("纠纷主要事实、争议事项：")
    w.line(sheet.facts, indent=8 * mm)
    w.line("经调解，当事人自愿达成如下协议：")
    for number, term in enumerate(sheet.terms, start=1):
        w.line(f"{number}. {term}", indent=8 * mm)
    method = sheet.performance_method or "按上述条款履行"
    w.line(f"履行方式、时限：{method}，于 {sheet.performance_deadline} 前履行完毕。")
    copies = len(sheet.parties) + 1  # one for each party and one for the committee
    w.line(
        "本协议自各方当事人签名（盖章或按指印）、人民调解员签名并加盖人民调解委员会印章之日起生效。"
        f"本协议一式{_chinese_count(copies)}份，当事人、人民调解委员会各持一份。"
        "当事人可自协议生效之日起三十日内共同向人民法院申请司法确认。"
    )
    w.y -= 6 * mm
    for party in sheet.parties:
        w.line(f"当事人（签名、盖章或按指印）：{party.name}    ________________")
    w.line(f"人民调解员（签名）：{'、'.join(sheet.mediators) or BLANK}    ________________")
    w.y -= 6 * mm
    w.line(f"{sheet.committee}（印章）")
    w.line(f"{sheet.signed_on:%Y年%m月%d日}")
    canvas.save()
    return buffer.getvalue()


def _chinese_count(n: int) -> str:
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")
