"""The dispatcher as its own process: `python -m notify.worker [--config FILE]`.

Run one or more beside the web servers; they share the outbox safely (leases). SIGTERM or Ctrl-C lets the
current round finish, then the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from notify.outbox import run_forever
from server.core.config import ConfigError, load_config
from server.core.logs import setup_logging
from server.core.outage import DatabaseUnreachable

log = logging.getLogger("sanyuan.worker")


async def main(config_path: str | None) -> None:
    from server.app import open_context

    config = load_config(config_path).config
    setup_logging(config.log.level)
    ctx = await open_context(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("notification worker started")
    try:
        await run_forever(ctx, stop)
    finally:
        await ctx.close()
        log.info("notification worker stopped")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="通知发送进程（短信、微信订阅消息）")
    parser.add_argument("--config", help="配置文件（默认 config.yaml）")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.config))
    except ConfigError as exc:
        print(f"无法启动：{exc}", file=sys.stderr)
        sys.exit(2)
    except DatabaseUnreachable as exc:
        print(f"无法启动：{exc}", file=sys.stderr)
        sys.exit(3)
