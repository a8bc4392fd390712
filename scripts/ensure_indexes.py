"""Create every declared index: `python -m scripts.ensure_indexes [--config FILE]`. Safe to run repeatedly."""

from __future__ import annotations

import argparse
import asyncio

from server.core import indexes
from server.core.config import load_config
from server.core.db import connect, redact_uri


async def _main(config_path: str | None) -> None:
    config = load_config(config_path).config
    client, db = connect(config.mongodb.uri, config.mongodb.database)
    try:
        created = await indexes.ensure_all(db)
        print(f"数据库 {redact_uri(config.mongodb.uri)} / {config.mongodb.database}：")
        for collection, names in created.items():
            print(f"  {collection}: {', '.join(names)}")
    finally:
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="创建（或确认）所有集合的索引")
    parser.add_argument("--config", help="配置文件（默认 config.yaml）")
    asyncio.run(_main(parser.parse_args().config))
