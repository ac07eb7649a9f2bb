from __future__ import annotations


def test_list_sites_is_a_page(client, collector, biobank_site, auth_headers):
    response = client.get("/api/v1/sites", headers=auth_headers(collector))
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 2
    assert body["page"] == 1
    assert {site["code"] for site in body["items"]} == {"UCSD-01", "MAYO-BB"}


def test_filter_sites_by_kind(client, collector, biobank_site, auth_headers):
    body = client.get("/api/v1/sites?kind=biobank", headers=auth_headers(collector)).get_json()
    assert [site["code"] for site in body["items"]] == ["MAYO-BB"]


def test_admin_creates_a_site(client, admin, auth_headers):
    response = client.post(
        "/api/v1/sites",
        headers=auth_headers(admin),
        json={
            "code": "JHU-01",
            "name": "Johns Hopkins",
            "kind": "collection",
            "timezone": "America/New_York",
        },
    )
    assert response.status_code == 201
    assert response.get_json()["code"] == "JHU-01"


def test_a_collector_may_not_create_sites(client, collector, auth_headers):
    response = client.post(
        "/api/v1/sites",
        headers=auth_headers(collector),
        json={"code": "JHU-01", "name": "x", "kind": "collection", "timezone": "UTC"},
    )
    assert response.status_code == 403
    assert response.get_json()["detail"] == "Your role (collector) may not manage sites."


def test_bad_site_fields_are_422_per_field(client, admin, auth_headers):
    response = client.post(
        "/api/v1/sites",
        headers=auth_headers(admin),
        json={"code": "bad code!", "name": "x", "kind": "moon", "timezone": "Nowhere/City"},
    )
    assert response.status_code == 422
    assert "kind" in response.get_json()["errors"]
    response = client.post(
        "/api/v1/sites",
        headers=auth_headers(admin),
        json={"code": "bad code!", "name": "x", "kind": "collection", "timezone": "Nowhere/City"},
    )
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"code", "timezone"}


def test_duplicate_site_code_is_409(client, admin, auth_headers):
    payload = {"code": "MAYO-BB", "name": "x", "kind": "biobank", "timezone": "UTC"}
    response = client.post("/api/v1/sites", headers=auth_headers(admin), json=payload)
    assert response.status_code == 409


def test_tube_types_come_from_the_catalogue(client, collector, auth_headers):
    body = client.get("/api/v1/tube-types?per_page=200", headers=auth_headers(collector)).get_json()
    by_code = {t["code"]: t for t in body["items"]}
    assert body["total"] == 14
    assert by_code["1UR10"]["labels_per_tube"] == 2
    assert by_code["1SST8"]["requires_processing"] is True
    assert by_code["1ED04"]["specimen"] == "whole_blood"


def test_kits_list_their_tube_codes(client, collector, auth_headers):
    body = client.get("/api/v1/kits", headers=auth_headers(collector)).get_json()
    baseline = next(k for k in body["items"] if k["code"] == "BASELINE-ADULT")
    assert baseline["tube_types"] == [
        "1SST8",
        "1PST8",
        "1HEP4",
        "1ED04",
        "1ED10",
        "1CFD9",
        "1PXR2",
        "1UR10",
    ]
