"""Move audit records older than the retention period to a file: `python -m scripts.archive_audit
[--config FILE] [--before YYYY-MM-DD]`.

Only records older than `audit.retention_days` (at least 183 days) are ever moved, and never the newest one.
The chain is verified first (a broken chain is not archived); the file (`audit.archive_dir`,
`audit-<first>-<last>.jsonl.gz`, one JSON record per line with its chain fields) is written and read back before
anything is deleted, and its last hash and SHA-256 are kept in `audit_archives`, so that
`scripts.verify_audit` still verifies the records left from where the archive ends.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bson import json_util

from server.core.audit import AuditLog, verify
from server.core.clock import Clock
from server.core.config import Config, load_config
from server.core.db import connect


async def archive(log: AuditLog, config: Config, now: datetime, before: datetime | None = None) -> str:
    """Archive what may be archived; say what was done."""
    limit = now - timedelta(days=config.audit.retention_days)
    cutoff = min(before, limit) if before else limit
    first = await log.first_seq()
    head, _ = await log.head()
    records: list[dict[str, Any]] = []
    async for record in log.in_order(first, head - 1):  # never the newest: it carries the chain on
        if record["at"].replace(tzinfo=None) >= cutoff.replace(tzinfo=None):
            break
        records.append(record)
    if not records:
        return f"没有早于 {cutoff:%Y-%m-%d} 的记录需要归档（保留期 {config.audit.retention_days} 天）。"
    _, broken = await verify(log, first, records[-1]["seq"])
    if broken:
        raise SystemExit(f"审计日志链条断裂，不能归档：{broken}")
    path, digest = await asyncio.to_thread(write_archive, Path(config.audit.archive_dir), records)
    last = records[-1]
    await log.archived(last["seq"], last["hash"], str(path), digest, len(records), now)
    return f"已归档第 {records[0]['seq']}–{last['seq']} 条共 {len(records)} 条记录到 {path}（SHA-256 {digest}）。"


async def _main(args: argparse.Namespace) -> int:
    config = load_config(args.config).config
    before = datetime.fromisoformat(args.before).astimezone() if args.before else None
    client, db = connect(config.mongodb.uri, config.mongodb.database)
    try:
        print(await archive(AuditLog(db), config, Clock().now(), before))
    finally:
        await client.close()
    return 0


def write_archive(folder: Path, records: list[dict[str, Any]]) -> tuple[Path, str]:
    """The records in a gzip file of JSON lines, read back and compared before anyone deletes them; its path
    and SHA-256."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"audit-{records[0]['seq']}-{records[-1]['seq']}.jsonl.gz"
    data = b"".join(json_util.dumps(r, sort_keys=True).encode() + b"\n" for r in records)
    path.write_bytes(gzip.compress(data))
    if gzip.decompress(path.read_bytes()) != data:
        raise SystemExit(f"归档文件 {path} 写入后读回不一致，未删除任何记录")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def read_archive(path: Path) -> list[dict[str, Any]]:
    """The records of an archive file, as they were in the database."""
    return [json_util.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines() if line]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="将超过保留期的审计记录归档到文件")
    parser.add_argument("--config", help="配置文件（默认 config.yaml）")
    parser.add_argument("--before", help="只归档此日期之前的记录（YYYY-MM-DD；不能晚于保留期）")
    sys.exit(asyncio.run(_main(parser.parse_args())))
