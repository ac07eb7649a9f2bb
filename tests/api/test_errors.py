"""Every error path answers problem+json with a sentence, never internals."""

from __future__ import annotations

import pytest

from biobank.api.common import MAX_JSON_DEPTH, NUL_MESSAGE, SURROGATE_MESSAGE


def _is_problem(response, status):
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert body["detail"]
    return body


def test_unknown_route_is_404_problem(client, collector, auth_headers):
    _is_problem(client.get("/api/v1/nowhere", headers=auth_headers(collector)), 404)


def test_wrong_method_is_405_problem_with_allow(client, collector, auth_headers):
    response = client.delete("/api/v1/kits", headers=auth_headers(collector))
    body = _is_problem(response, 405)
    assert "GET" in response.headers["Allow"]
    assert "DELETE is not allowed" in body["detail"]


def test_query_parameter_errors_are_422(client, collector, auth_headers):
    body = _is_problem(client.get("/api/v1/sites?per_page=0", headers=auth_headers(collector)), 422)
    assert "per_page" in body["errors"]
    huge = client.get(
        "/api/v1/shipments?page=99999999999999999999", headers=auth_headers(collector)
    )
    assert "page" in _is_problem(huge, 422)["errors"]


def test_oversized_body_is_413(app, client, admin, auth_headers):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post("/api/v1/sites", headers=auth_headers(admin), json={"name": "x" * 5000})
    body = _is_problem(response, 413)
    assert "1000 bytes" in body["detail"]


def test_unexpected_errors_are_500_without_internals(app, client, collector, auth_headers, caplog):
    from biobank.services.core import catalogue

    def explode(*args, **kwargs):
        raise RuntimeError("secret-internal-detail")

    original = catalogue.list_kits
    catalogue.list_kits = explode
    try:
        response = client.get("/api/v1/kits", headers=auth_headers(collector))
    finally:
        catalogue.list_kits = original
    body = _is_problem(response, 500)
    text = response.get_data(as_text=True)
    assert "secret-internal-detail" not in text
    assert "Traceback" not in text
    assert body["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/docs"])
def test_api_description_is_public(client, path):
    assert client.get(path).status_code == 200


def test_openapi_documents_the_routes_and_problems(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/sites" in spec["paths"]
    post = spec["paths"]["/api/v1/sites"]["post"]
    assert {"201", "403", "409", "422"} <= set(post["responses"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_page_loads_only_local_assets(client):
    html = client.get("/api/v1/docs").get_data(as_text=True)
    assert "swagger-ui-bundle.js" in html
    assert "http://" not in html and "https://" not in html
    asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    asset.close()
    assert asset.status_code == 200


def test_malformed_json_says_so(client, admin, auth_headers):
    response = client.post(
        "/api/v1/sites",
        headers={**auth_headers(admin), "Content-Type": "application/json"},
        data="{not json",
    )
    body = _is_problem(response, 400)
    assert "not valid JSON" in body["detail"]


def test_wrong_content_type_is_415(client, admin, auth_headers):
    response = client.post(
        "/api/v1/sites", headers={**auth_headers(admin), "Content-Type": "text/plain"}, data="hi"
    )
    body = _is_problem(response, 415)
    assert "application/json" in body["detail"]


def test_unknown_route_without_a_token_is_404_not_401(client):
    response = client.get("/api/v1/no/such/thing")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_wrong_method_without_a_token_is_405(client):
    response = client.put("/api/v1/kits")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("record_id", ["0", "99999999999999999999", "2147483648"])
def test_out_of_range_record_ids_are_404(client, collector, auth_headers, record_id):
    for path in (
        f"/api/v1/collections/{record_id}",
        f"/api/v1/shipments/{record_id}",
        f"/api/v1/storage/boxes/{record_id}",
    ):
        response = client.get(path, headers=auth_headers(collector))
        assert response.status_code == 404, path
        assert response.mimetype == "application/problem+json"


def test_a_nul_character_is_refused_where_it_stands(client, collector, auth_headers):
    # PostgreSQL can neither store nor compare text holding NUL: it must not get that far.
    headers = auth_headers(collector)
    body = _is_problem(client.get("/api/v1/samples?tube_type=1SST%008", headers=headers), 422)
    assert body["errors"]["tube_type"] == [NUL_MESSAGE]
    ignored = client.get("/api/v1/samples?unknown=%00", headers=headers)
    assert ignored.status_code == 200  # a parameter nobody reads is not an error
    posted = client.post(
        "/api/v1/collections",
        json={"participant_id": "P12345\u00006789", "kit": "BASELINE-ADULT"},
        headers=headers,
    )
    assert _is_problem(posted, 422)["errors"]["participant_id"] == [NUL_MESSAGE]


@pytest.mark.parametrize("body", [[1, 2], "text", 7, None, ["\u0000"]])
def test_a_json_body_that_is_not_an_object_is_a_422(client, collector, auth_headers, body):
    posted = client.post("/api/v1/collections", json=body, headers=auth_headers(collector))
    _is_problem(posted, 422)


def test_a_lone_surrogate_is_refused_where_it_stands(client, collector, auth_headers):
    # "\ud800" decodes to a lone surrogate, which UTF-8 (and so the database) cannot encode.
    headers = {**auth_headers(collector), "Content-Type": "application/json"}
    posted = client.post(
        "/api/v1/collections",
        data='{"participant_id": "P123456789", "kit": "BASELINE-ADULT", "notes": "a\\ud800b"}',
        headers=headers,
    )
    assert _is_problem(posted, 422)["errors"] == {"notes": [SURROGATE_MESSAGE]}
    in_a_list = client.post(
        "/api/v1/collections",
        data='{"participant_id": "P123456789", "tube_types": ["1ED04", "\\udfff"]}',
        headers=headers,
    )
    assert _is_problem(in_a_list, 422)["errors"] == {"tube_types": [SURROGATE_MESSAGE]}
    as_a_key = client.post(
        "/api/v1/collections",
        data='{"participant_id": "P123456789", "kit": "BASELINE-ADULT", "\\ud800": 1}',
        headers=headers,
    )
    assert _is_problem(as_a_key, 422)["errors"]["\ud800"] == [SURROGATE_MESSAGE]
    # A surrogate pair is one ordinary character (here an emoji) and is stored as such.
    paired = client.post(
        "/api/v1/collections",
        data='{"participant_id": "P123456789", "kit": "BASELINE-ADULT", "notes": "\\ud83d\\ude00"}',
        headers=headers,
    )
    assert paired.status_code == 201
    assert paired.get_json()["notes"] == "\U0001f600"


def test_a_json_body_nested_too_deeply_is_a_400_that_says_so(client, collector, auth_headers):
    headers = {**auth_headers(collector), "Content-Type": "application/json"}
    for path in ("/api/v1/collections", "/api/v1/auth/tokens"):
        for deep in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
            response = client.post(path, data=deep, headers=headers)
            body = _is_problem(response, 400)
            assert "nested too deeply" in body["detail"], path
            assert str(MAX_JSON_DEPTH) in body["detail"]


def test_json_at_the_depth_limit_and_brackets_in_strings_are_read(client, collector, auth_headers):
    headers = {**auth_headers(collector), "Content-Type": "application/json"}
    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    response = client.post("/api/v1/collections", data=at_limit, headers=headers)
    assert _is_problem(response, 422)  # read, and refused as not an object
    notes = "[{" * 5_000
    response = client.post(
        "/api/v1/collections",
        json={"participant_id": "P123456789", "kit": "BASELINE-ADULT", "notes": notes[:2000]},
        headers=headers,
    )
    assert response.status_code == 201
