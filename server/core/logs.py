"""Logging set-up and scrubbing.

Nothing that identifies a person or grants access reaches a log line: phone numbers and ID numbers are
masked, and the values of secret-bearing query parameters and path arguments are replaced. The scrubbing
filter sits on the root handler, so every logger's output passes through it.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING, TextIO

from server.core.pii import mask_id_number, mask_phone

if TYPE_CHECKING:
    from tornado.web import RequestHandler

access_log = logging.getLogger("sanyuan.access")

SECRET_PARAMS = (
    "token",
    "access_token",
    "refresh_token",
    "code",
    "js_code",
    "phone",
    "id_number",
    "secret",
    "password",
)
_SECRET_QUERY = re.compile(r"(?i)([?&](?:{})=)[^&#\s]*".format("|".join(SECRET_PARAMS)))
_ID_NUMBER = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")
_PHONE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")
_BEARER = re.compile(r"(?i)(bearer\s+)[\w.~+/-]+=*")


def scrub(text: str) -> str:
    text = _SECRET_QUERY.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group()), text)
    return _PHONE.sub(lambda m: mask_phone(m.group()), text)


class ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ScrubFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def log_request(handler: RequestHandler) -> None:
    """Tornado's `log_function`: `status method path (user@ip) ms`, level by status, secrets scrubbed."""
    status = handler.get_status()
    # 503 is an answer we chose (an outage, logged once by `OutageWatch`), not a fault of this request.
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 or status == 503 else logging.ERROR
    if not access_log.isEnabledFor(level):
        return
    request = handler.request
    path = request.uri or ""
    for name, value in getattr(handler, "path_kwargs", {}).items():
        if name in SECRET_PARAMS and value:
            path = path.replace(value, "***")
    principal = getattr(handler, "principal", None)
    user = principal.user_id if principal else "-"
    access_log.log(
        level,
        "%d %s %s (%s@%s) %.1fms",
        status,
        request.method,
        scrub(path),
        user,
        request.remote_ip,
        1000.0 * request.request_time(),
    )
