"""The append-only, tamper-evident audit log (等保 安全审计): every read of a person's full details, every grant,
login, setting, export and change of state.

The service offers no update or delete. Every record carries its place in one chain: a sequence number
(`seq`, unique) and `hash` = SHA-256 of the record's canonical form with the previous record's hash
(`prev_hash`). Editing a record breaks its own hash; deleting one leaves a gap in the sequence and a
`prev_hash` that matches nothing — `python -m scripts.verify_audit` walks a range and names the first broken
link. Writers in any number of processes take the next number by inserting under the unique index: two at
once collide and the loser reads the new head and tries again. Within a process, appends take turns and
start from the head this process last wrote (`Tip`), so an append reads the chain only after another
process has written to it.

Records are kept at least `audit.retention_days` (≥ 183, default 365); older ones may be moved to a file by
`python -m scripts.archive_audit`, which keeps each archive's last hash (`audit_archives`) so that the chain
still verifies from the first record left.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from bson import ObjectId
from openpyxl import Workbook
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from server.core import indexes
from server.core.auth import Principal
from server.core.clock import aware
from server.core.db import Database
from server.core.tables import print_layout

COLLECTION = "audit_log"
ARCHIVES = "audit_archives"
GENESIS = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
MAX_TRIES = 100

indexes.declare(
    COLLECTION,
    IndexModel([("seq", ASCENDING)], name="seq", unique=True, sparse=True),
    IndexModel([("target_type", ASCENDING), ("target_id", ASCENDING), ("at", DESCENDING)], name="target_at"),
    IndexModel([("actor_id", ASCENDING), ("at", DESCENDING)], name="actor_at"),
    # An auditor's search: by actor, action or object, newest (highest number) first.
    IndexModel([("actor_id", ASCENDING), ("seq", DESCENDING)], name="actor_seq"),
    IndexModel([("action", ASCENDING), ("seq", DESCENDING)], name="action_seq"),
    IndexModel([("target_type", ASCENDING), ("seq", DESCENDING)], name="target_type_seq"),
    IndexModel([("target_type", ASCENDING), ("target_id", ASCENDING), ("seq", DESCENDING)], name="target_seq"),
)
indexes.declare(ARCHIVES, IndexModel([("up_to_seq", ASCENDING)], name="up_to_seq", unique=True))

CHAINED = ("seq", "prev_hash", "at", "action", "actor_id", "target_type", "target_id", "details")


def _millis(moment: datetime) -> int:
    """A time as the database keeps it: whole milliseconds since the epoch (a naive time is UTC)."""
    return (aware(moment) - _EPOCH) // _MILLISECOND


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$date": _millis(value)}
    if isinstance(value, ObjectId):
        return {"$oid": str(value)}
    raise TypeError(f"{type(value).__name__} cannot be in an audit record")


def chain_hash(record: dict[str, Any]) -> str:
    """The hash of a record's canonical form (the same before it is stored and after it is read back)."""
    body = {name: record.get(name) for name in CHAINED}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Tip:
    """A process's knowledge of the chain's head: the number and hash it last appended (None: read it from
    the log), and the turn its appends take. Only a hint: a number another process took first is refused by
    the unique index, and the head is then read again."""

    last: tuple[int, str] | None = None
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)


class AuditLog:
    def __init__(self, db: Database, tip: Tip | None = None) -> None:
        self._log = db[COLLECTION]
        self._archives = db[ARCHIVES]
        self._tip = tip or Tip()

    async def record(
        self,
        *,
        action: str,
        actor_id: ObjectId | None,
        target_type: str,
        target_id: ObjectId | str,
        at: datetime,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append one record at the head of the chain."""
        moment = _EPOCH + _millis(at) * _MILLISECOND  # as stored: whole milliseconds, UTC
        record: dict[str, Any] = {
            "action": action,
            "actor_id": actor_id,
            "target_type": target_type,
            "target_id": target_id,
            "at": moment,
            "details": details or {},
        }
        async with self._tip.turn:
            for _ in range(MAX_TRIES):
                seq, prev = self._tip.last or await self.head()
                record |= {"_id": ObjectId(), "seq": seq + 1, "prev_hash": prev}
                record["hash"] = chain_hash(record)
                try:
                    await self._log.insert_one(record)
                except DuplicateKeyError:
                    self._tip.last = None  # another process took that number: read the new head
                    continue
                self._tip.last = (record["seq"], record["hash"])
                return
        raise RuntimeError("audit log: could not append after many tries")

    async def record_for(
        self,
        principal: Principal,
        action: str,
        target_type: str,
        target_id: ObjectId | str,
        at: datetime,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record an action taken by the signed-in caller."""
        await self.record(
            action=action,
            actor_id=ObjectId(principal.user_id),
            target_type=target_type,
            target_id=target_id,
            at=at,
            details=details,
        )

    async def head(self) -> tuple[int, str]:
        """The last number and hash of the chain (after an archive that emptied the log: the archive's)."""
        last = (
            await self._log.find({"seq": {"$gte": 0}}, {"seq": 1, "hash": 1})
            .sort("seq", DESCENDING)
            .limit(1)
            .to_list(1)
        )
        if last:
            return last[0]["seq"], last[0]["hash"]
        archived = await self._archives.find({}).sort("up_to_seq", DESCENDING).limit(1).to_list(1)
        return (archived[0]["up_to_seq"], archived[0]["last_hash"]) if archived else (0, GENESIS)

    async def for_target(self, target_type: str, target_id: ObjectId | str, limit: int = 100) -> list[dict[str, Any]]:
        cursor = self._log.find({"target_type": target_type, "target_id": target_id}).sort("at", DESCENDING)
        return await cursor.limit(limit).to_list(None)

    async def search(self, query: dict[str, Any], *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Records matching `query` (actor, action, target, time), newest first."""
        cursor = self._log.find(query).sort("seq", DESCENDING).skip(skip).limit(limit)
        return await cursor.to_list(None), await self._log.count_documents(query)

    def in_order(self, first: int, last: int | None) -> AsyncIterator[dict[str, Any]]:
        """The records numbered `first` to `last` (or to the head), in chain order."""
        bounds: dict[str, int] = {"$gte": first}
        if last is not None:
            bounds["$lte"] = last
        return self._log.find({"seq": bounds}).sort("seq", ASCENDING)

    async def hash_before(self, seq: int) -> str | None:
        """The hash the record numbered `seq` must link to: the one before it, in the log or at the end of an
        archive (None: neither is there, so that first link cannot be checked)."""
        if seq <= 1:
            return GENESIS
        before = await self._log.find_one({"seq": seq - 1}, {"hash": 1})
        if before is not None:
            return str(before["hash"])
        archive = await self._archives.find_one({"up_to_seq": seq - 1})
        return str(archive["last_hash"]) if archive else None

    async def first_seq(self) -> int:
        """The number of the oldest record still in the log (1 before anything was archived)."""
        first = await self._log.find({"seq": {"$gte": 0}}, {"seq": 1}).sort("seq", ASCENDING).limit(1).to_list(1)
        return int(first[0]["seq"]) if first else 1

    async def archived(self, up_to_seq: int, last_hash: str, file: str, digest: str, count: int, at: datetime) -> None:
        """Note an archive of every record up to `up_to_seq`, then remove those records from the log."""
        await self._archives.insert_one(
            {"up_to_seq": up_to_seq, "last_hash": last_hash, "file": file, "sha256": digest, "count": count, "at": at}
        )
        await self._log.delete_many({"seq": {"$lte": up_to_seq}})


def audit_query(
    *,
    actor_id: ObjectId | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: ObjectId | str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """The records of an actor, an action, an object (type, and id), in a time range: what an auditor asks."""
    query: dict[str, Any] = {}
    if actor_id is not None:
        query["actor_id"] = actor_id
    if action:
        query["action"] = action
    if target_type:
        query["target_type"] = target_type
        if target_id is not None:
            query["target_id"] = target_id
    if start or end:
        query["at"] = {**({"$gte": start} if start else {}), **({"$lt": end} if end else {})}
    return query


def audit_sheet(records: list[dict[str, Any]], tz: tzinfo) -> bytes:
    """The records as an XLSX sheet (time in town time, actor, action, object, details, sequence and hash)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "审计日志"
    sheet.append([f"审计日志（{len(records)} 条）"])
    sheet.append(["序号", "时间", "操作人", "操作", "对象类型", "对象", "详情", "哈希"])
    for record in records:
        details = json.dumps(record.get("details") or {}, ensure_ascii=False, sort_keys=True, default=str)
        sheet.append(
            [
                record.get("seq"),
                aware(record["at"]).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                str(record["actor_id"]) if record.get("actor_id") else "系统",
                record["action"],
                record["target_type"],
                str(record["target_id"]),
                details[:2000],
                record.get("hash", ""),
            ]
        )
    print_layout(sheet, (8, 20, 26, 22, 14, 26, 60, 20))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def verify(log: AuditLog, first: int = 1, last: int | None = None) -> tuple[int, str | None]:
    """Walk the chain from `first` (to `last`, or to the head): how many records held, and the first broken
    link in words (None if none)."""
    expected_seq, prev = first, await log.hash_before(first)
    checked = 0
    async for record in log.in_order(first, last):
        if record["seq"] != expected_seq:
            return checked, f"第 {expected_seq} 条记录缺失（下一条是第 {record['seq']} 条，{record['_id']}）"
        if prev is not None and record["prev_hash"] != prev:
            return checked, f"第 {record['seq']} 条记录（{record['_id']}）与前一条不相连：前一条被删改"
        if chain_hash(record) != record["hash"]:
            return checked, f"第 {record['seq']} 条记录（{record['_id']}）的内容与其哈希不符：已被修改"
        prev, expected_seq, checked = record["hash"], expected_seq + 1, checked + 1
    return checked, None
