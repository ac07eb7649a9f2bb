"""Storage: first-free search in a 5,000-box freezer, a box grid answer, a 96-tube rack import.

The freezer holds 5,000 boxes of 9 x 9 (405,000 positions) and is nearly full: every box but
the last ten is full, the worst case for a search that goes box by box in order. The
baseline beside the search is its first version (every box loaded as an object), measured in
the same run.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from bench.harness import (
    bearer,
    bench_app,
    databases,
    dispatched,
    finalized_tubes,
    median_time,
    ms,
    percentile,
)

BOXES = 5_000
FREE_BOXES = 10
BOX_SIDE = 9  # 9 x 9 boxes
WANTED = 500
RACK = 96


def _big_freezer(technician) -> int:
    """5,000 boxes under 50 racks, all full but the last ten (bulk inserts, then a commit)."""
    from biobank.extensions import db
    from biobank.models import Container, ContainerKind, StoragePosition
    from biobank.services.storage import freezer_tree
    from biobank.unit_of_work import unit_of_work

    with unit_of_work():
        freezer = freezer_tree.create_freezer(technician, name="Big freezer", temperature_c=-80)
        racks = []
        for number in range(BOXES // 100):
            racks.append(
                freezer_tree.create_container(
                    technician, parent_id=freezer.id, kind="rack", name=f"Rack {number + 1:02d}"
                )
            )
    site_id = freezer.site_id
    rows = [
        {
            "site_id": site_id,
            "parent_id": racks[index // 100].id,
            "kind": ContainerKind.BOX,
            "name": f"Box {index + 1:04d}",
            "rows": BOX_SIDE,
            "cols": BOX_SIDE,
            "active": True,
        }
        for index in range(BOXES)
    ]
    with unit_of_work():
        db.session.execute(sa.insert(Container), rows)
    box_ids = db.session.scalars(
        sa.select(Container.id).where(Container.kind == ContainerKind.BOX).order_by(Container.id)
    ).all()
    full = box_ids[: BOXES - FREE_BOXES]
    batch: list[dict] = []
    with unit_of_work():
        for box_id in full:
            batch += [
                {"box_id": box_id, "row": r, "col": c}
                for r in range(1, BOX_SIDE + 1)
                for c in range(1, BOX_SIDE + 1)
            ]
            if len(batch) >= 40_000:
                db.session.execute(sa.insert(StoragePosition), batch)
                batch = []
        if batch:
            db.session.execute(sa.insert(StoragePosition), batch)
    return freezer.id


def _search_loading_every_box(freezer) -> list:
    """The first version of the search, kept as the measured "before": load every box as an
    ORM object, count positions per box with an IN list, then walk the boxes."""
    from biobank.extensions import db
    from biobank.models import Container, ContainerKind, StoragePosition
    from biobank.services.storage import box_positions, freezer_tree

    inside = freezer_tree.subtree_ids(freezer)
    boxes = db.session.scalars(
        sa.select(Container)
        .where(Container.id.in_(inside), Container.kind == ContainerKind.BOX)
        .order_by(Container.id)
    ).all()
    used = dict(
        db.session.execute(
            sa.select(StoragePosition.box_id, sa.func.count())
            .where(StoragePosition.box_id.in_([b.id for b in boxes]))
            .group_by(StoragePosition.box_id)
        ).all()
    )
    slots = []
    for box in boxes:
        if len(slots) >= WANTED:
            break
        if used.get(box.id, 0) >= box.capacity:
            continue
        taken = box_positions.occupied_positions(box).keys()
        slots += [(box, g) for g in box_positions.all_positions(box) if g not in taken]
    answer = [(box.id, grid) for box, grid in slots[:WANTED]]
    for box in boxes:  # each round starts as cold as the first
        db.session.expunge(box)
    return answer


def _measure(url: str) -> dict[str, float]:
    from biobank.extensions import db
    from biobank.models import Container
    from biobank.services.shipping import receiving
    from biobank.services.storage import freezer_tree, placing
    from biobank.unit_of_work import unit_of_work

    with bench_app(url) as (app, cast):
        freezer_id = _big_freezer(cast.technician)
        freezer = db.session.get(Container, freezer_id)
        search = median_time(lambda: placing.free_slots(freezer, WANTED), repeats=5)
        before = median_time(lambda: _search_loading_every_box(freezer), repeats=5)
        assert [(b.id, g) for b, g in placing.free_slots(freezer, WANTED)] == (
            _search_loading_every_box(freezer)
        )

        barcodes = finalized_tubes(cast.collector, RACK)
        shipment_id = dispatched(cast.collector, barcodes)
        from biobank.models import Shipment

        with unit_of_work():
            shipment = db.session.get(Shipment, shipment_id)
            for barcode in barcodes:
                receiving.receive_scan(cast.technician, shipment, barcode)
        with unit_of_work():
            rack_box = freezer_tree.create_container(
                cast.technician, parent_id=freezer_id, kind="box", name="Rack 96", rows=8, cols=12
            )
        client = app.test_client()
        headers = bearer(cast.technician)
        wells = [f"{chr(65 + i // 12)}{i % 12 + 1:02d}" for i in range(RACK)]
        content = "\n".join(f"{w},{b}" for w, b in zip(wells, barcodes, strict=True)).encode()
        import io

        path = f"/api/v1/storage/boxes/{rack_box.id}/rack-scan"
        previewed = client.post(
            path, headers=headers, data={"file": (io.BytesIO(content), "rack.csv")}
        )
        assert previewed.status_code == 200, previewed.get_json()
        assert len(previewed.get_json()["wells"]) == RACK, previewed.get_json()
        preview = median_time(
            lambda: client.post(
                path, headers=headers, data={"file": (io.BytesIO(content), "rack.csv")}
            ),
            5,
        )
        start = time.perf_counter()
        applied = client.post(
            f"{path}?apply=true", headers=headers, data={"file": (io.BytesIO(content), "rack.csv")}
        )
        rack_import = time.perf_counter() - start
        assert applied.status_code == 200 and applied.get_json()["applied"], applied.get_json()

        grid = []
        for _ in range(100):
            start = time.perf_counter()
            response = client.get(f"/api/v1/storage/boxes/{rack_box.id}", headers=headers)
            grid.append(time.perf_counter() - start)
            assert response.status_code == 200
        return {
            "search": ms(search),
            "before": ms(before),
            "preview": ms(preview),
            "import": ms(rack_import),
            "grid_p95": ms(percentile(grid, 0.95)),
            "grid_p50": ms(percentile(grid, 0.5)),
        }


def run() -> list[dict]:
    rows = []
    for name, url in databases():
        f = _measure(url)
        rows += [
            {
                "figure": f"{name}: first free positions for {WANTED} tubes, {BOXES:,}-box freezer "
                f"({BOXES * BOX_SIDE**2:,} positions, full but the last {FREE_BOXES} boxes), "
                "median",
                "value": f["search"],
                "unit": "ms",
                "target": "<= 200 ms",
                "baseline": f["before"],
                "ratio": round(f["search"] / f["before"], 2),
            },
            {
                "figure": f"{name}: box grid answer (GET /storage/boxes/<id>, 96 tubes), p95",
                "value": f["grid_p95"],
                "unit": "ms",
                "target": "<= 20 ms",
            },
            {
                "figure": f"{name}: {RACK}-tube rack-scan import (apply, over HTTP)",
                "value": f["import"],
                "unit": "ms",
                "target": "<= 300 ms",
            },
            {
                "figure": f"{name}: {RACK}-tube rack-scan preview (over HTTP), median",
                "value": f["preview"],
                "unit": "ms",
                "target": "",
            },
        ]
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
