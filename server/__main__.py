"""`python -m server [--config FILE] [--demo [--demo-size town]] [--port N] [--host H]`"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import sys

from server.core.config import ConfigError, load_config
from server.core.logs import setup_logging
from server.core.outage import DatabaseUnreachable

DEMO_BANNER = """
==============================================================================
  演示模式 DEMO MODE
  数据保存在内存中，退出即全部丢失。Data lives in memory and is lost on exit.
  短信与微信消息只打印在此控制台，不会真正发送。
==============================================================================
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m server", description="三源共治平台后端")
    parser.add_argument("--config", help="配置文件（默认 config.yaml；演示模式下可省略）")
    parser.add_argument("--demo", action="store_true", help="演示模式：内存数据库、示范镇数据、消息打印到控制台")
    parser.add_argument(
        "--demo-size",
        choices=["demo", "town"],
        default="demo",
        help="演示数据规模：demo（4 个村，288 户）或 town（24 个村，约 3000 户、2000 件纠纷、2 万条走访）",
    )
    parser.add_argument("--loop-stats", action="store_true", help=argparse.SUPPRESS)  # scripts/bench.py
    parser.add_argument("--port", type=int, help="监听端口（覆盖配置 http.port）")
    parser.add_argument("--host", help="监听地址（覆盖配置 http.host）")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        loaded = load_config(args.config, demo=args.demo)
    except ConfigError as exc:
        print(f"无法启动：{exc}", file=sys.stderr)
        return 2
    config = loaded.config
    if args.port is not None:
        config.http.port = args.port
    if args.host is not None:
        config.http.host = args.host
    setup_logging(config.log.level)

    banner: list[str] = []
    if config.demo:
        banner.append(DEMO_BANNER)
        if loaded.generated:
            banner.append(f"  本次运行临时生成的密钥：{', '.join(loaded.generated)}（重启后所有登录失效）\n")

    from scripts.seed_demo import seed_demo_town
    from server.app import serve
    from server.core.looptime import LoopStats

    try:
        with contextlib.suppress(KeyboardInterrupt):
            seed = functools.partial(seed_demo_town, size=args.demo_size) if config.demo else None
            stats = LoopStats() if args.loop_stats else None
            asyncio.run(serve(config, banner=banner, seed=seed, loop_stats=stats))
    except DatabaseUnreachable as exc:
        print(f"无法启动：{exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
