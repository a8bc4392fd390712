"""Every query the suite ran is served by a declared index on a real MongoDB (server/core/query_shapes.py).

The emulation records the shape of every query the tests before this one sent (the file's name puts it
last); each is judged against the indexes the code declares. A query without its index fails here, named
with the index it needs. Run alone it has nothing to judge and says so.
"""

from __future__ import annotations

import pytest

from server.core import indexes
from server.core.query_shapes import Recorder, Shape, judge

# Collections read whole on purpose: small by nature, and bounded by the county's own structure.
READ_WHOLE = {
    "org_units": "the county's tree: a few hundred units, read whole to build paths and names",
    "settings": "a handful of documents per town",
    "cache_versions": "one document per cached collection",
}


# Functions that read a whole collection on purpose, once, outside any request.
WHOLE_ON_PURPOSE = {
    "mark_all_notices": "the demo seed marks its invented history as delivered, once at start",
    "residents_per_unit": "the demo seed counts its residents per unit, once at start",
}


def declared_keys() -> dict[str, dict[str, list[tuple[str, int]]]]:
    indexes.load_all()
    return {
        collection: {m.document["name"]: list(m.document["key"].items()) for m in models}
        for collection, models in indexes.declared().items()
    }


def test_every_query_of_the_suite_is_served_by_a_declared_index(query_shapes: Recorder) -> None:
    if len(query_shapes.shapes) < 50:
        pytest.skip("run with the whole suite: it judges the queries the other tests sent")
    declared = declared_keys()
    unserved: list[str] = []
    for shape in sorted(query_shapes.shapes, key=Shape.describe):
        where = query_shapes.shapes[shape]
        whole = not (shape.equality or shape.ranges or shape.sort)
        if whole and (shape.collection in READ_WHOLE or where.rsplit(" in ", 1)[-1] in WHOLE_ON_PURPOSE):
            continue
        verdict = judge(shape, declared.get(shape.collection, {}))
        if verdict.served_by is None:
            needed = ", ".join(f"{f} {d}" for f, d in shape.needs())
            unserved.append(f"{shape.describe()} — {verdict.reason}; needs ({needed}) — {where}")
    assert not unserved, f"{len(unserved)} queries no declared index serves:\n" + "\n".join(unserved)
