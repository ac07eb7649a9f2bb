from __future__ import annotations

import io

import pytest

from tests.conftest import PASSWORD


@pytest.fixture
def tree(api, technician, biobank_site):
    caller = api(technician)
    freezer = caller.post(
        "/api/v1/storage/freezers", json={"name": "Freezer A", "temperature_c": -80}
    ).get_json()
    shelf = caller.post(
        "/api/v1/storage/containers",
        json={"parent": freezer["id"], "kind": "shelf", "name": "Shelf 1"},
    )
    assert shelf.status_code == 201
    box = caller.post(
        "/api/v1/storage/containers",
        json={
            "parent": shelf.get_json()["id"],
            "kind": "box",
            "name": "Box 1",
            "rows": 9,
            "cols": 9,
        },
    )
    assert box.status_code == 201, box.get_json()
    return {"freezer": freezer, "box": box.get_json()}


def test_build_a_tree_and_read_a_box(api, technician, tree):
    box = api(technician).get(f"/api/v1/storage/boxes/{tree['box']['id']}").get_json()
    assert (box["rows"], box["cols"], box["name"]) == (9, 9, "Box 1")
    assert box["path"] == "Freezer A › Shelf 1 › Box 1"
    assert len(box["positions"]) == 81
    assert box["positions"][0] == {
        "position": "A1",
        "barcode": None,
        "tube_type": None,
        "status": None,
        "reserved": False,
    }
    assert box["positions"][9]["position"] == "B1"
    found = api(technician).get(f"/api/v1/storage/boxes?barcode={box['barcode'].lower()}")
    assert found.get_json()["id"] == box["id"]


def test_store_taken_and_outside(api, technician, collector, tree, received_tubes):
    tubes = received_tubes(collector)
    caller, path = api(technician), f"/api/v1/storage/boxes/{tree['box']['id']}/positions"
    stored = caller.post(path, json={"barcode": tubes[0].barcode, "position": "A1"})
    assert stored.status_code == 201
    assert stored.get_json() == {
        "barcode": tubes[0].barcode,
        "box": tree["box"]["id"],
        "box_name": "Box 1",
        "position": "A1",
    }
    taken = caller.post(path, json={"barcode": tubes[1].barcode, "position": "A1"})
    assert taken.status_code == 409
    assert taken.get_json()["next_free"] == "A2"
    assert "next free position is A2" in taken.get_json()["detail"]
    outside = caller.post(path, json={"barcode": tubes[1].barcode, "position": "K1"})
    assert outside.status_code == 422 and "position" in outside.get_json()["errors"]
    auto = caller.post(path, json={"barcode": tubes[1].barcode})
    assert auto.get_json()["position"] == "A2"
    sample = caller.get(f"/api/v1/samples/{tubes[0].barcode}").get_json()
    assert sample["location"] == {
        "freezer": "Freezer A",
        "path": ["Freezer A", "Shelf 1", "Box 1"],
        "box": "Box 1",
        "box_id": tree["box"]["id"],
        "position": "A1",
    }


def test_rack_scan_upload(api, technician, collector, tree, received_tubes, client, auth_headers):
    tubes = received_tubes(collector)
    content = "\n".join(f"A{i + 1:02d},{t.barcode}" for i, t in enumerate(tubes)).encode()
    path = f"/api/v1/storage/boxes/{tree['box']['id']}/rack-scan"
    headers = auth_headers(technician)
    preview = client.post(path, headers=headers, data={"file": (io.BytesIO(content), "rack.csv")})
    assert preview.status_code == 200, preview.get_json()
    assert preview.get_json()["counts"]["placed"] == 8 and not preview.get_json()["applied"]
    applied = client.post(
        f"{path}?apply=true", headers=headers, data={"file": (io.BytesIO(content), "rack.csv")}
    )
    assert applied.get_json()["applied"] is True
    box = api(technician).get(f"/api/v1/storage/boxes/{tree['box']['id']}").get_json()
    assert [p["barcode"] for p in box["positions"][:8]] == [t.barcode for t in tubes]
    bad = client.post(
        f"{path}?apply=true",
        headers=headers,
        data={"file": (io.BytesIO(b"A1,NOTATUBE\n"), "rack.csv")},
    )
    assert bad.status_code == 409
    assert bad.get_json()["report"]["wells"][0]["outcome"] in ("differs", "unknown_tube")
    binary = client.post(
        path, headers=headers, data={"file": (io.BytesIO(b"\x00\x01\x02"), "rack.bin")}
    )
    assert binary.status_code == 422 and "file" in binary.get_json()["errors"]


def test_sample_handling_over_the_api(api, technician, collector, tree, received_tubes):
    tubes = received_tubes(collector)
    caller = api(technician)
    sst = next(t for t in tubes if t.tube_type.code == "1SST8")
    caller.post(
        f"/api/v1/storage/boxes/{tree['box']['id']}/positions", json={"barcode": sst.barcode}
    )
    moved = caller.post(
        f"/api/v1/samples/{sst.barcode}/move", json={"box": tree["box"]["id"], "position": "D4"}
    )
    assert moved.get_json()["location"]["position"] == "D4"
    assert caller.post(f"/api/v1/samples/{sst.barcode}/thaw").get_json()["freeze_thaw_count"] == 1
    made = caller.post(
        f"/api/v1/samples/{sst.barcode}/aliquot", json={"count": 2, "volume_ml": "1.5"}
    )
    assert made.status_code == 201
    body = made.get_json()
    assert body["parent"]["volume_ml"] == 5.0
    assert [c["parent"] for c in body["children"]] == [sst.barcode] * 2
    too_much = caller.post(
        f"/api/v1/samples/{sst.barcode}/aliquot", json={"count": 10, "volume_ml": 1}
    )
    assert too_much.status_code == 422
    assert caller.post(f"/api/v1/samples/{sst.barcode}/dispose", json={}).status_code == 422
    disposed = caller.post(
        f"/api/v1/samples/{sst.barcode}/dispose",
        json={"reason": "haemolysed beyond use", "signature_password": PASSWORD},
    )
    assert disposed.get_json()["status"] == "disposed"
    assert disposed.get_json()["location"] is None
    events = [
        e["type"] for e in caller.get(f"/api/v1/samples/{sst.barcode}/events").get_json()["items"]
    ]
    assert events[-4:] == ["moved", "thawed", "aliquoted", "disposed"]


def test_storage_roles_and_sites(
    api, technician, collector, coordinator, tree, make_user, make_site
):
    from biobank.models import Role, SiteKind

    assert (
        api(collector)
        .post("/api/v1/storage/freezers", json={"name": "X", "temperature_c": -80})
        .status_code
        == 403
    )
    other = make_user("tech.other", Role.TECHNICIAN, make_site("OTHER-BB", SiteKind.BIOBANK))
    assert api(other).get(f"/api/v1/storage/boxes/{tree['box']['id']}").status_code == 404
    assert api(coordinator).get(f"/api/v1/storage/boxes/{tree['box']['id']}").status_code == 200


def test_store_many_and_occupancy(api, technician, collector, tree, received_tubes):
    tubes = received_tubes(collector)
    caller = api(technician)
    placed = caller.post(
        f"/api/v1/storage/containers/{tree['freezer']['id']}/store",
        json={"barcodes": [t.barcode for t in tubes]},
    )
    assert placed.status_code == 201
    assert [p["position"] for p in placed.get_json()] == [f"A{i}" for i in range(1, 9)]
    [freezer] = caller.get("/api/v1/storage/freezers").get_json()["items"]
    assert freezer["occupancy"] == {"used": 8, "capacity": 81, "free": 73, "percent": 10}


def test_rack_scan_two_tubes_in_a_well_and_an_overlong_line_are_422s_naming_the_line(
    technician, collector, tree, received_tubes, client, auth_headers
):
    tubes = received_tubes(collector)
    path = f"/api/v1/storage/boxes/{tree['box']['id']}/rack-scan"
    headers = auth_headers(technician)
    twice = f"A1,{tubes[0].barcode}\nB1,{tubes[1].barcode}\nA01,{tubes[2].barcode}\n".encode()
    for query in ("", "?apply=true"):
        response = client.post(
            path + query, headers=headers, data={"file": (io.BytesIO(twice), "rack.csv")}
        )
        assert response.status_code == 422
        [message] = response.get_json()["errors"]["file"]
        assert message.startswith(
            f"Line 3: two tubes read in A1 ({tubes[0].barcode} on line 1, {tubes[2].barcode}"
        )
    long_line = b"A1,NO READ\nA2," + b"X" * 140_000 + b"\n"
    response = client.post(path, headers=headers, data={"file": (io.BytesIO(long_line), "r.csv")})
    assert response.status_code == 422
    [message] = response.get_json()["errors"]["file"]
    assert message.startswith("Line 2 is too long") and "131,072" in message


def test_inventory_import_line_over_the_csv_field_limit_is_a_422(
    technician, boxes, client, auth_headers
):
    data = (
        b"barcode,tube_type,collection_site,freezer,box,position\n"
        + b",1ED04,UCSD-01,Freezer 1,Box 1,A1"
        + b"x" * 140_000
        + b"\n"
    )
    response = client.post(
        "/api/v1/storage/inventory-import",
        headers=auth_headers(technician),
        data={"file": (io.BytesIO(data), "inventory.csv")},
    )
    assert response.status_code == 422
    [message] = response.get_json()["errors"]["file"]
    assert message.startswith("Line 2 is too long") and "131,072" in message


def test_quarantine_and_release_over_the_api(api, technician, collector, tree, received_tubes):
    tube = received_tubes(collector)[0]
    caller = api(technician)
    assert caller.post(f"/api/v1/samples/{tube.barcode}/quarantine", json={}).status_code == 422
    held = caller.post(f"/api/v1/samples/{tube.barcode}/quarantine", json={"reason": "cracked cap"})
    assert held.status_code == 200
    assert "quarantined" in held.get_json()["flags"]
    refused = caller.post(
        f"/api/v1/storage/boxes/{tree['box']['id']}/positions", json={"barcode": tube.barcode}
    )
    assert refused.status_code == 409
    assert "is quarantined (cracked cap)" in refused.get_json()["detail"]
    again = caller.post(f"/api/v1/samples/{tube.barcode}/quarantine", json={"reason": "x"})
    assert again.status_code == 409
    released = caller.post(
        f"/api/v1/samples/{tube.barcode}/release", json={"reason": "cap is intact after all"}
    )
    assert "quarantined" not in released.get_json()["flags"]
    stored = caller.post(
        f"/api/v1/storage/boxes/{tree['box']['id']}/positions", json={"barcode": tube.barcode}
    )
    assert stored.status_code in (200, 201), stored.get_json()
    assert api(collector).post(
        f"/api/v1/samples/{tube.barcode}/quarantine", json={"reason": "x"}
    ).status_code in (403, 404)
