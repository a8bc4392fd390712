"""Import a town's structure from YAML: `python -m scripts.import_orgs FILE [--config FILE] [--under ORG_ID]`.

See `scripts/examples/town.yaml`. Safe to rerun: existing units (same parent, same name) are kept.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import yaml
from bson import ObjectId

from server.app import open_context
from server.core.config import load_config
from server.orgs.tree import OrgService


async def _main(spec: list[dict[str, Any]], config_path: str | None, under: str | None) -> None:
    ctx = await open_context(load_config(config_path).config)
    try:
        counts = await OrgService(ctx).import_tree(spec, ObjectId(under) if under else None, ctx.clock.now())
    finally:
        await ctx.close()
    print(f"导入完成：新建 {counts['created']} 个单元，已存在 {counts['existing']} 个。")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="从 YAML 文件导入组织架构（可重复运行）")
    parser.add_argument("file")
    parser.add_argument("--config", help="配置文件（默认 config.yaml）")
    parser.add_argument("--under", help="挂在哪个已有单元之下（默认作为最上级）")
    args = parser.parse_args()
    spec = yaml.safe_load(Path(args.file).read_text(encoding="utf-8"))
    if not isinstance(spec, list):
        raise SystemExit("文件顶层应是单元列表（参见 scripts/examples/town.yaml）")
    asyncio.run(_main(spec, args.config, args.under))
