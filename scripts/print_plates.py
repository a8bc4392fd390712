"""Print household door plates to an A4 PDF (12 a page), with a progress bar.

    python -m scripts.print_plates --org 东风村 --out plates.pdf [--config FILE]
    python -m scripts.print_plates --demo --org 东风村 --out plates.pdf      # the in-memory demo town
    python -m scripts.print_plates --synthetic 3000 --out plates.pdf         # no database: size and speed check

`--org` takes a village, grid or micro-grid by id or by name.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bson import ObjectId
from bson.errors import InvalidId

from server.orgs.tree import OrgService
from server.places.plates import PER_PAGE, Plate, plate_url, qr_matrix, render_plates_pdf


def progress_bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    pages = -(-done // PER_PAGE)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} 张  第 {pages} 页")
    sys.stderr.flush()
    if done >= total:
        sys.stderr.write("\n")


def synthetic(count: int) -> list[Plate]:
    return [
        Plate(
            url=plate_url("https://sanyuan.example.cn", secrets.token_urlsafe(16)),
            address=f"示范镇东风村{n % 12 + 1}组{n + 1}号",
            village="东风村",
            grid_worker="李建国",
            hotline="12345",
            town="示范镇",
        )
        for n in range(count)
    ]


async def from_database(config_path: str | None, demo: bool, org: str) -> list[Plate]:
    from server.app import open_context
    from server.core.config import load_config
    from server.places.plate_jobs import PRINTABLE_KINDS, PlatePrinting

    config = load_config(config_path, demo=demo).config
    ctx = await open_context(config)
    try:
        if demo:
            from scripts.seed_demo import seed_demo_town

            await seed_demo_town(ctx)
        orgs = OrgService(ctx)
        try:
            unit = await orgs.find(ObjectId(org))
        except InvalidId:
            unit = None
            for kind in PRINTABLE_KINDS:
                unit = unit or await orgs.find_unit(name=org, kind=kind)
        if unit is None or unit["kind"] not in PRINTABLE_KINDS:
            raise SystemExit(f"找不到村、网格或微网格：{org}")
        return await PlatePrinting(ctx).gather(unit["_id"])
    finally:
        await ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="打印门牌二维码（A4，每页 12 张）")
    parser.add_argument("--out", required=True, help="输出的 PDF 文件")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--org", help="村、网格或微网格（id 或名称）")
    source.add_argument("--synthetic", type=int, metavar="N", help="不连数据库，生成 N 张示例门牌")
    parser.add_argument("--config", help="配置文件（默认 config.yaml）")
    parser.add_argument("--demo", action="store_true", help="使用内存中的示范镇数据")
    args = parser.parse_args()

    plates = (
        synthetic(args.synthetic) if args.synthetic else asyncio.run(from_database(args.config, args.demo, args.org))
    )
    started = time.perf_counter()
    # Encoding is most of the work: spread it over every core, then draw.
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        matrices = list(pool.map(qr_matrix, [p.url for p in plates], chunksize=64))
    size = render_plates_pdf(plates, Path(args.out), progress_bar, matrices)
    elapsed = time.perf_counter() - started
    pages = -(-len(plates) // PER_PAGE)
    print(f"{args.out}：{len(plates)} 张门牌，{pages} 页，{size / 1e6:.1f} MB，用时 {elapsed:.1f} 秒")


if __name__ == "__main__":
    main()
