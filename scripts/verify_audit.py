"""Check the audit log's hash chain: `python -m scripts.verify_audit [--config FILE] [--from N] [--to M]`.

Walks the records numbered N to M (default: all that are in the database) and names the first broken link —
a record edited (its hash no longer matches), deleted (a gap in the numbers) or replaced (its link to the one
before does not match). Prints the head (number and hash) so that it can be noted elsewhere: a record deleted
from the very end leaves no gap, and only a head noted earlier shows it. Exits 1 if the chain is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from server.core.audit import AuditLog, verify
from server.core.config import load_config
from server.core.db import connect


async def check(log: AuditLog, first: int | None, last: int | None) -> tuple[bool, list[str]]:
    """Whether the range holds, and the lines to print."""
    start = first if first is not None else await log.first_seq()
    checked, broken = await verify(log, start, last)
    seq, digest = await log.head()
    lines = [f"审计日志：自第 {start} 条起检查了 {checked} 条记录；当前最新为第 {seq} 条，哈希 {digest}"]
    if broken:
        lines.append(f"链条断裂（chain broken）：{broken}")
    else:
        lines.append("链条完整（chain intact）。")
    return broken is None, lines


async def _main(args: argparse.Namespace) -> int:
    config = load_config(args.config).config
    client, db = connect(config.mongodb.uri, config.mongodb.database)
    try:
        ok, lines = await check(AuditLog(db), args.first, args.last)
    finally:
        await client.close()
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="检查审计日志的哈希链是否完整")
    parser.add_argument("--config", help="配置文件（默认 config.yaml）")
    parser.add_argument("--from", dest="first", type=int, help="从第几条记录开始（默认最早的一条）")
    parser.add_argument("--to", dest="last", type=int, help="到第几条为止（默认最新的一条）")
    sys.exit(asyncio.run(_main(parser.parse_args())))
