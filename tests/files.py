"""Small well-formed files of each kind an upload may be, built byte by byte, for the upload tests."""

from __future__ import annotations

import struct


def make_pdf(*objects: bytes) -> bytes:
    """A PDF of these object bodies (object 1 is the catalog), with a correct cross-reference table."""
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def one_page_pdf(*catalog_extra: bytes, extra_objects: tuple[bytes, ...] = ()) -> bytes:
    catalog = b"<</Type/Catalog/Pages 2 0 R" + b"".join(catalog_extra) + b">>"
    pages = b"<</Type/Pages/Kids[3 0 R]/Count 1>>"
    page = b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>"
    return make_pdf(catalog, pages, page, *extra_objects)


def mp3(frames: int = 5) -> bytes:
    """An ID3v2 tag and MPEG-1 layer III frames at 128 kbit/s, 44.1 kHz (417 bytes each)."""
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 0, 10]) + b"\x00" * 10
    frame = struct.pack(">I", 0xFFFB9064) + b"\x00" * 413
    return tag + frame * frames


def m4a() -> bytes:
    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(payload), kind) + payload

    return box(b"ftyp", b"M4A \x00\x00\x00\x00M4A isom") + box(b"moov", b"\x00" * 32) + box(b"mdat", b"\x01" * 64)


def amr(frames: int = 5) -> bytes:
    """AMR-NB at 12.2 kbit/s: a header byte (type 7, quality bit set) and 31 bytes per frame."""
    return b"#!AMR\n" + (b"\x3c" + b"\x00" * 31) * frames
