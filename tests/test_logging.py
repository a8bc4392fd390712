"""Scrubbing of log output: nothing that identifies a person or grants access is written."""

from __future__ import annotations

import io
import logging

from server.core.logs import scrub, setup_logging


def test_scrub_masks_phones_ids_and_secrets() -> None:
    text = "call 13812345678 or +8613912345678, id 11010119900307123X, /x?token=abc&js_code=zz&page=2 Bearer eyJ.a.b"
    assert (
        scrub(text)
        == "call 138****5678 or +86****5678, id 110***********123X, /x?token=***&js_code=***&page=2 Bearer ***"
    )


def test_scrub_leaves_other_numbers_alone() -> None:
    assert scrub("case SY-20261128-0042 took 123456789012 ms") == "case SY-20261128-0042 took 123456789012 ms"


def test_root_handler_scrubs_every_logger_and_tracebacks() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        setup_logging("INFO", stream=stream)
        logging.getLogger("any.module").info("resident %s registered", "13812345678")
        try:
            raise ValueError("bad id 110101199003071234")
        except ValueError:
            logging.getLogger("any.module").exception("failed")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    output = stream.getvalue()
    assert "138****5678" in output
    assert "13812345678" not in output
    assert "110101199003071234" not in output
    assert "ValueError" in output
