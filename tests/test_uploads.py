"""Uploads are proven by parsing: active PDFs, polyglots and files that are not what they start as are refused;
image decoding is bounded per process."""

from __future__ import annotations

import asyncio
import io
from typing import Any, Literal

import pytest
from bson import ObjectId
from PIL import Image

from server.cases.attachments import clean
from server.core.context import Context
from tests.files import amr, m4a, mp3, one_page_pdf
from tests.town import resident_case

HTML = b"<html><body><script>fetch('/api/me')</script></body></html>"


async def upload(api: Any, town: Any, data: bytes, content_type: str = "application/octet-stream") -> Any:
    token = town.people["resident_a"].token
    case = (await api.post("/api/cases", resident_case(town), token=token)).json
    url = f"/api/cases/{case['id']}/attachments"
    return await api.post(url, body=data, headers={"Content-Type": content_type}, token=token)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(one_page_pdf(), "application/pdf"), (mp3(), "audio/mpeg"), (m4a(), "audio/mp4"), (amr(), "audio/amr")],
    ids=["pdf", "mp3", "m4a", "amr"],
)
async def test_well_formed_files_are_stored_as_sent(api, town, data: bytes, content_type: str) -> None:
    answer = await upload(api, town, data)
    assert answer.status == 201, answer.json
    attachment = answer.json["attachments"][0]
    assert attachment["content_type"] == content_type
    stored = await api.get(attachment["url"], token=town.people["resident_a"].token)
    assert stored.body == data


ACTIVE_PDFS = {
    "open action script": one_page_pdf(b"/OpenAction 4 0 R", extra_objects=(b"<</S/JavaScript/JS(app.alert(1))>>",)),
    "escaped name": one_page_pdf(b"/OpenAction 4 0 R", extra_objects=(b"<</S/J#61vaScript/J#53(app.alert(1))>>",)),
    "named scripts": one_page_pdf(
        b"/Names<</JavaScript 4 0 R>>", extra_objects=(b"<</Names[(a) 5 0 R]>>", b"<</S/JavaScript/JS 6 0 R>>", b"1")
    ),
    "embedded file": one_page_pdf(
        b"/Names<</EmbeddedFiles 4 0 R>>",
        extra_objects=(b"<</Names[(x.exe) 5 0 R]>>", b"<</Type/Filespec/F(x.exe)/EF<</F 6 0 R>>>>", b"1"),
    ),
    "launch action": one_page_pdf(b"/OpenAction<</S/Launch/F(cmd.exe)>>"),
    "xfa form": one_page_pdf(b"/AcroForm<</Fields[]/XFA 4 0 R>>", extra_objects=(b"[]",)),
}


@pytest.mark.parametrize("name", list(ACTIVE_PDFS))
async def test_a_pdf_that_can_act_or_carries_files_is_refused(api, town, name: str) -> None:
    answer = await upload(api, town, ACTIVE_PDFS[name])
    assert (answer.status, answer.error_code) == (422, "pdf_active_content"), name


@pytest.mark.parametrize(
    "data",
    [one_page_pdf() + HTML, mp3() + HTML, HTML + b"\n" + one_page_pdf()[9:], amr() + b"<svg onload=alert(1)>"],
    ids=["pdf+html", "mp3+html", "html-in-pdf", "amr+svg"],
)
async def test_polyglots_are_refused(api, town, data: bytes) -> None:
    if not data.startswith((b"%PDF", b"ID3", b"#!AMR")):
        data = b"%PDF-1.4\n" + data
    answer = await upload(api, town, data)
    assert (answer.status, answer.error_code) == (415, "attachment_polyglot")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"%PDF-1.7\n" + b"\x00" * 200, "pdf_unreadable"),
        (mp3() + b"\x00\x01\x02\x03" * 200, "audio_unreadable"),  # not audio after the frames
        (b"ID3" + b"\x00" * 7 + b"\xff\xfb" + b"\x17" * 500, "audio_unreadable"),
        (m4a() + b"junkjunkjunk", "audio_unreadable"),
        (b"\x00\x00\x00\x18ftypM4A " + b"\x00" * 12, "audio_unreadable"),  # no moov: not a recording
        (b"#!AMR\n" + b"\x4c" + b"\x00" * 40, "audio_unreadable"),  # frame type 9 does not exist
    ],
    ids=["pdf-garbage", "mp3-tail", "mp3-bad-frame", "m4a-tail", "m4a-no-moov", "amr-bad-type"],
)
async def test_files_that_are_not_what_they_start_as_are_refused(api, town, data: bytes, code: str) -> None:
    answer = await upload(api, town, data)
    assert (answer.status, answer.error_code) == (422, code)


def big_photo(width: int = 4000, height: int = 3000) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(buffer, "JPEG", quality=50)
    return buffer.getvalue()


class CountingSemaphore(asyncio.Semaphore):
    """The context's bound on heavy work, counting how many hold it at once and how often it was taken."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.holding = self.most = self.taken = 0

    async def acquire(self) -> Literal[True]:
        await super().acquire()
        self.holding, self.taken = self.holding + 1, self.taken + 1
        self.most = max(self.most, self.holding)
        return True

    def release(self) -> None:
        self.holding -= 1
        super().release()


async def test_image_decodes_are_bounded_per_process(api, ctx: Context, town) -> None:
    """Ten photos at once: each is checked in a worker process, never more than two at a time."""
    ctx.heavy_work = CountingSemaphore(2)
    photo = big_photo()
    answers = await asyncio.gather(*(upload(api, town, photo) for _ in range(10)))
    assert [a.status for a in answers] == [201] * 10
    assert ctx.heavy_work.taken == 10
    assert 1 <= ctx.heavy_work.most <= 2  # how many overlap depends on the machine; never more than two


def test_a_large_jpeg_is_decoded_at_a_reduced_scale() -> None:
    """A 27 MP photo comes out at 2048 px whichever way; decoded at 1/2 scale it never exists at full size."""
    photo = big_photo(6000, 4500)
    seen: list[tuple[int, int]] = []
    original_load = Image.Image.load

    def recording_load(self: Image.Image) -> Any:
        seen.append(self.size)
        return original_load(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image.Image, "load", recording_load)
        kind, content_type, data = clean(photo)
    assert (kind, content_type) == ("image", "image/jpeg")
    assert Image.open(io.BytesIO(data)).size == (2048, 1536)
    assert max(w * h for w, h in seen) == 3000 * 2250  # the decoder's half scale, not 6000 × 4500


async def test_twelve_uploads_at_once_to_one_case_all_land(api, ctx: Context, town) -> None:
    """An addition is not a state change: concurrent uploads, information and sessions do not refuse each other."""
    token = town.people["resident_a"].token
    case = (await api.post("/api/cases", resident_case(town), token=token)).json
    url = f"/api/cases/{case['id']}/attachments"
    before = (await ctx.db["cases"].find_one({"_id": ObjectId(case["id"])}))["version"]
    photo = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(photo, "PNG")
    uploads = [api.post(url, body=photo.getvalue(), token=token, headers={}) for _ in range(12)]
    infos = [api.post(f"/api/cases/{case['id']}/info", {"text": f"补充情况{i}"}, token=token) for i in range(4)]
    answers = await asyncio.gather(*uploads, *infos)
    assert [a.status for a in answers] == [201] * 12 + [200] * 4
    stored = await ctx.db["cases"].find_one({"_id": ObjectId(case["id"])})
    assert len(stored["attachments"]) == 12
    assert sum(e["action"] == "add_info" for e in stored["timeline"]) == 4
    assert stored["version"] == before + 16  # each addition still moves the version that clients compare


async def test_an_addition_after_the_case_closed_is_refused(api, ctx: Context, town) -> None:
    token = town.people["resident_a"].token
    case = (await api.post("/api/cases", resident_case(town), token=token)).json
    assert (await api.post(f"/api/cases/{case['id']}/actions/withdraw", {}, token=token)).status == 200
    late = await api.post(f"/api/cases/{case['id']}/info", {"text": "还有一点"}, token=token)
    assert late.status == 409
