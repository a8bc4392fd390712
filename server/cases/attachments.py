"""Case attachments: photos, voice recordings and PDFs, checked by content and cleaned before storing.

The type comes from the file's first bytes, never its name or the client's word. Images are decoded and
re-encoded as JPEG: that drops EXIF (GPS included) and anything hidden after the image data, and they are
downscaled to at most 2048 px. An image that would decode to an absurd number of pixels (a decompression
bomb) is refused before it is decoded. This costs tens to hundreds of milliseconds, so it runs in an executor.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from server.core.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

MAX_BYTES = {"image": 10 * 1024 * 1024, "audio": 10 * 1024 * 1024, "pdf": 20 * 1024 * 1024}
MAX_PIXELS = 40_000_000  # a 12 MP phone photo is 12,000,000
MAX_SIDE = 2048


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
    if kind != "image":
        return kind, content_type, data
    return kind, "image/jpeg", _reencode(data)


def _reencode(data: bytes) -> bytes:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ValidationFailed("图片像素过多，无法处理", code="image_too_large")
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
