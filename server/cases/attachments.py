"""Case attachments: photos, voice recordings and PDFs, checked by content and cleaned before storing.

The type comes from the file's first bytes, never its name or the client's word, and is then proven by
parsing the whole file:
- Images are decoded and re-encoded as JPEG: that drops EXIF (GPS included) and anything hidden after the
  image data, and they are downscaled to at most 2048 px (JPEGs are decoded at a reduced scale to begin with,
  so a 40 MP photo never sits in memory at full size). An image that would decode to an absurd number of
  pixels (a decompression bomb) is refused before it is decoded.
- Recordings are walked frame by frame (AMR, MP3) or box by box (M4A) to the end of the file: bytes that
  are not audio (an HTML page appended to make a polyglot) are refused.
- PDFs are parsed, and one carrying JavaScript, embedded files, launch actions, XFA forms or rich media is
  refused, as is an encrypted one that cannot be checked.
- Recordings and PDFs are stored as sent, so neither may contain HTML markup anywhere (a polyglot that a
  browser would render as a page).
This costs tens to hundreds of milliseconds, so it runs in an executor, at most `ctx.heavy_work` at a time
per process (`server/cases/files.py`), which bounds the memory that decoding can take.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from bson import ObjectId
from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

from server.core.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

MAX_BYTES = {"image": 10 * 1024 * 1024, "audio": 10 * 1024 * 1024, "pdf": 20 * 1024 * 1024}
MAX_PIXELS = 40_000_000  # a 12 MP phone photo is 12,000,000
MAX_SIDE = 2048
MAX_PDF_OBJECTS = 200_000

_HTML = re.compile(rb"<(?:!doctype\s+html|html|head|body|script|iframe|svg|object|embed|meta|a\s)[\s>/]", re.I)


def file_record(
    folder: str, kind: str, content_type: str, cleaned: bytes, by: ObjectId, at: datetime
) -> dict[str, Any]:
    """How a checked file is recorded (a case attachment, an expert's opinion file): its id, what it is, and
    the storage key under `folder` where its bytes are put."""
    file_id = ObjectId()
    return {
        "id": file_id,
        "kind": kind,
        "content_type": content_type,
        "size": len(cleaned),
        "key": f"{folder}/{file_id}",
        "by": by,
        "at": at,
    }


def sniff(data: bytes) -> tuple[str, str]:
    """(kind, content type) from magic bytes; refuse anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image", "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image", "image/webp"
    if data.startswith(b"#!AMR"):
        return "audio", "audio/amr"
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio", "audio/mpeg"
    if data[4:8] == b"ftyp" and data[8:12] in (b"M4A ", b"isom", b"mp42", b"mp41", b"M4B "):
        return "audio", "audio/mp4"
    if data.startswith(b"%PDF-"):
        return "pdf", "application/pdf"
    raise UnsupportedMediaType("只支持图片（JPEG/PNG/WebP）、录音（AMR/MP3/M4A）和 PDF", code="attachment_type")


def clean(data: bytes) -> tuple[str, str, bytes]:
    """Check and clean an upload: (kind, content type, bytes to store)."""
    kind, content_type = sniff(data)
    if len(data) > MAX_BYTES[kind]:
        raise PayloadTooLarge(
            f"文件过大（上限 {MAX_BYTES[kind] // 1024 // 1024} MB）", details={"limit_bytes": MAX_BYTES[kind]}
        )
    if kind == "image":
        return kind, "image/jpeg", _reencode(data)
    if _HTML.search(data):
        raise UnsupportedMediaType("文件中含有网页代码，不能上传", code="attachment_polyglot")
    if kind == "pdf":
        _check_pdf(data)
    else:
        _check_audio(data, content_type)
    return kind, content_type, data


def _reencode(data: bytes) -> bytes:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ValidationFailed("图片像素过多，无法处理", code="image_too_large")
                scale = MAX_SIDE / max(width, height)
                if scale < 1:  # JPEG: decode at 1/2, 1/4 or 1/8 scale where that still covers the output
                    image.draft("RGB", (int(width * scale), int(height * scale)))
                image.load()
                upright = ImageOps.exif_transpose(image)  # keep the photo upright once EXIF is gone
                upright.thumbnail((MAX_SIDE, MAX_SIDE))
                out = io.BytesIO()
                upright.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
                return out.getvalue()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValidationFailed("图片像素过多，无法处理", code="image_too_large") from exc
    except (OSError, SyntaxError) as exc:
        raise ValidationFailed("图片已损坏，无法读取", code="image_unreadable") from exc


# ---- PDF ---------------------------------------------------------------------------------------------------

# Names that mean the document can act when opened, or carries other files: none has a place in a case file.
_ACTIVE_PDF = {
    "/JS",
    "/JavaScript",
    "/EmbeddedFile",
    "/EmbeddedFiles",
    "/FileAttachment",
    "/Launch",
    "/RichMedia",
    "/XFA",
    "/GoToE",
    "/SubmitForm",
    "/ImportData",
}


def _check_pdf(data: bytes) -> None:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise ValidationFailed("PDF 已加密，无法检查，请上传未加密的文件", code="pdf_encrypted")
        if len(reader.pages) == 0:
            raise ValidationFailed("PDF 没有页面", code="pdf_unreadable")
        for count, obj in enumerate(_pdf_objects(reader)):
            if count > MAX_PDF_OBJECTS:
                raise ValidationFailed("PDF 过于复杂，无法检查", code="pdf_unreadable")
            if _active(obj, 0):
                raise ValidationFailed(
                    "PDF 中含有脚本、附件或表单程序，不能上传；请打印为普通 PDF 后再上传", code="pdf_active_content"
                )
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ValidationFailed("PDF 文件已损坏，无法读取", code="pdf_unreadable") from exc


def _pdf_objects(reader: PdfReader) -> Iterator[Any]:
    """Every indirect object of the file, those inside object streams included."""
    for generation, numbers in reader.xref.items():
        for number in numbers:
            yield reader.get_object(IndirectObject(number, generation, reader))
    for number in reader.xref_objStm:
        yield reader.get_object(IndirectObject(number, 0, reader))


def _active(obj: Any, depth: int) -> bool:
    if depth > 64:
        raise ValueError("nested too deep")
    if isinstance(obj, NameObject):
        return obj in _ACTIVE_PDF
    if isinstance(obj, DictionaryObject):  # streams too: their dictionaries
        return any(key in _ACTIVE_PDF or _active(value, depth + 1) for key, value in obj.items())
    if isinstance(obj, ArrayObject):
        return any(_active(item, depth + 1) for item in obj)
    return False  # numbers, strings, references (each referenced object is checked on its own)


# ---- audio -------------------------------------------------------------------------------------------------


def _check_audio(data: bytes, content_type: str) -> None:
    walk = {"audio/amr": _amr_frames, "audio/mpeg": _mp3_frames, "audio/mp4": _mp4_boxes}[content_type]
    if not walk(data):
        raise ValidationFailed("录音文件已损坏或不是录音", code="audio_unreadable")


# AMR-NB speech bytes after the one-byte frame header, by frame type; 15 is "no data"; others are invalid.
_AMR_SIZES = {0: 12, 1: 13, 2: 15, 3: 17, 4: 19, 5: 20, 6: 26, 7: 31, 8: 5, 15: 0}


def _amr_frames(data: bytes) -> bool:
    """Frames from after `#!AMR\n` to the end (the last one may be cut short by a stopped recording)."""
    at = 6
    while at < len(data):
        header = data[at]
        size = _AMR_SIZES.get((header >> 3) & 0x0F)
        if size is None or header & 0x83:  # unknown frame type, or padding bits set
            return False
        at += 1 + size
    return True


_MP3_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1 layer III, kbit/s
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2 and 2.5 layer III
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by version bits


def _mp3_frames(data: bytes) -> bool:
    """An optional ID3v2 tag, then MPEG layer III frames to the end, then optional ID3v1/APE tags."""
    at = 0
    if data.startswith(b"ID3") and len(data) >= 10:
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
        at = 10 + size + (10 if data[5] & 0x10 else 0)
        while at < len(data) and data[at] == 0:  # padding some encoders leave after the tag
            at += 1
    frames = 0
    while at + 4 <= len(data):
        if (data[at : at + 3] == b"TAG" and len(data) - at == 128) or data[at : at + 8] == b"APETAGEX":
            return frames > 0
        header = struct.unpack(">I", data[at : at + 4])[0]
        version, layer = (header >> 19) & 3, (header >> 17) & 3
        bitrate_index, rate_index, padding = (header >> 12) & 15, (header >> 10) & 3, (header >> 9) & 1
        if header >> 21 != 0x7FF or version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
            return False
        bitrate = _MP3_BITRATES[1 if version == 3 else 2][bitrate_index] * 1000
        rate = _MP3_RATES[version][rate_index]
        at += (144 if version == 3 else 72) * bitrate // rate + padding
        frames += 1
    return frames > 0  # what is left is shorter than a frame header: a recording cut short


_MP4_TOP = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"udta", b"meta", b"uuid", b"pdin", b"moof", b"mfra"}
_MP4_TOP |= {b"sidx", b"styp", b"emsg", b"prft"}


def _mp4_boxes(data: bytes) -> bool:
    """ISO media boxes from the first byte to the last, `ftyp` first and a `moov` among them."""
    at, seen = 0, []
    while at < len(data):
        if at + 8 > len(data):
            return False
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        if size == 1:
            if at + 16 > len(data):
                return False
            size = struct.unpack(">Q", data[at + 8 : at + 16])[0]
        elif size == 0:
            size = len(data) - at
        if kind not in _MP4_TOP or size < 8 or at + size > len(data):
            return False
        seen.append(kind)
        at += size
    return bool(seen) and seen[0] == b"ftyp" and b"moov" in seen
