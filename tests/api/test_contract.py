"""The JSON API contract of DESIGN §5: every route exists and is in the OpenAPI document."""

from __future__ import annotations

import re

import pytest

# DESIGN §5's table (and §2's participants route), as written there.
DESIGN_ROUTES = [
    ("POST", "/auth/tokens"),
    ("GET", "/sites"),
    ("POST", "/sites"),
    ("GET", "/tube-types"),
    ("GET", "/kits"),
    ("PUT", "/participants/{id}"),
    ("POST", "/collections"),
    ("GET", "/collections/{id}"),
    ("POST", "/collections/{id}/samples/{barcode}/collected"),
    ("POST", "/collections/{id}/samples/{barcode}/processed"),
    ("POST", "/collections/{id}/finalize"),
    ("POST", "/collections/{id}/cancel"),
    ("POST", "/collections/{id}/restore"),
    ("POST", "/collections/{id}/labels.pdf"),
    ("POST", "/collections/{id}/labels.zpl"),
    ("GET", "/collections/{id}/labels.pdf"),
    ("GET", "/collections/{id}/labels.zpl"),
    ("POST", "/label-batches"),
    ("POST", "/label-batches/{id}/labels.pdf"),
    ("POST", "/label-batches/{id}/labels.zpl"),
    ("GET", "/label-batches/{id}/labels.pdf"),
    ("GET", "/label-batches/{id}/labels.zpl"),
    ("GET", "/samples/{barcode}"),
    ("GET", "/samples/{barcode}/events"),
    ("GET", "/samples"),
    ("POST", "/shipments"),
    ("POST", "/shipments/{id}/items"),
    ("DELETE", "/shipments/{id}/items/{barcode}"),
    ("POST", "/shipments/{id}/dispatch"),
    ("GET", "/shipments/{id}"),
    ("GET", "/shipments/{id}/manifest.pdf"),
    ("POST", "/shipments/{id}/receipt/scans"),
    ("POST", "/shipments/{id}/receipt/close"),
    ("POST", "/storage/freezers"),
    ("POST", "/storage/containers"),
    ("GET", "/storage/boxes/{id}"),
    ("POST", "/storage/boxes/{id}/positions"),
    ("POST", "/storage/boxes/{id}/rack-scan"),
    ("POST", "/samples/{barcode}/move"),
    ("POST", "/samples/{barcode}/thaw"),
    ("POST", "/samples/{barcode}/aliquot"),
    ("POST", "/samples/{barcode}/withdraw"),
    ("POST", "/samples/{barcode}/dispose"),
    ("GET", "/reports/overdue"),
    ("GET", "/reports/discrepancies"),
    ("GET", "/reports/occupancy"),
    ("GET", "/samples/{barcode}/fhir"),
    ("GET", "/exports/samples.csv"),
]


def _operations(operations: dict) -> list[tuple[str, dict]]:
    return [(verb, op) for verb, op in operations.items() if verb != "parameters"]


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.fixture(scope="module")
def spec():
    from biobank import create_app
    from tests.conftest import base_config

    app = create_app(base_config("sqlite://"))
    return app.test_client().get("/api/v1/openapi.json").get_json()


@pytest.mark.parametrize(("method", "path"), DESIGN_ROUTES)
def test_every_design_route_is_documented(spec, method, path):
    documented = {
        (verb.upper(), _shape(route.removeprefix("/api/v1")))
        for route, operations in spec["paths"].items()
        for verb in operations
        if verb != "parameters"
    }
    assert (method, _shape(path)) in documented


def test_every_operation_documents_its_errors_and_security(spec):
    public = {"/api/v1/auth/tokens"}
    for route, operations in spec["paths"].items():
        for verb, operation in _operations(operations):
            responses = set(operation["responses"])
            assert any(code.startswith("2") for code in responses), (verb, route)
            # Public: the token route, and operations that declare no security (the health
            # check a load balancer polls).
            if route not in public and operation.get("security") != []:
                assert "401" in responses, (verb, route)
            errors = [c for c in responses if c[0] in "45"]
            for code in errors:
                content = operation["responses"][code].get("content", {})
                schema = next(iter(content.values()), {}).get("schema", {}) if content else {}
                assert "$ref" in schema and schema["$ref"].endswith("Problem"), (verb, route, code)
                assert list(content) == ["application/problem+json"], (verb, route, code)


def test_request_bodies_have_schemas(spec):
    for route, operations in spec["paths"].items():
        for verb, operation in _operations(operations):
            if verb in ("post", "put", "patch") and "requestBody" in operation:
                content = operation["requestBody"]["content"]
                assert all("schema" in media for media in content.values()), (verb, route)


def test_every_list_is_a_page(spec):
    """Lists answer {items, total, page, per_page}, never a bare array."""
    schemas = spec["components"]["schemas"]
    for route, operations in spec["paths"].items():
        get = operations.get("get")
        if not get:
            continue
        content = get["responses"]["200"].get("content", {}).get("application/json", {})
        schema = content.get("schema", {})
        assert schema.get("type") != "array", route
        name = schema.get("$ref", "").rsplit("/", 1)[-1]
        if name.endswith("Page"):
            assert {"items", "total", "total_exact", "page", "per_page"} <= set(
                schemas[name]["properties"]
            )


def _body_schema(spec, operation) -> dict:
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_every_signed_act_documents_the_429_of_too_many_wrong_passwords(spec):
    signed = []
    for route, operations in spec["paths"].items():
        for verb, operation in _operations(operations):
            if "requestBody" not in operation:
                continue
            content = operation["requestBody"]["content"]
            if "application/json" not in content:
                continue
            if "signature_password" in _body_schema(spec, operation).get("properties", {}):
                signed.append((verb.upper(), _shape(route.removeprefix("/api/v1"))))
                assert "429" in operation["responses"], (verb, route)
    assert sorted(signed) == [
        ("POST", "/distribution/shipments/{}/dispatch"),
        ("POST", "/samples/{}/dispose"),
        ("POST", "/shipments/{}/dispatch"),
        ("POST", "/shipments/{}/receipt/close"),
    ]


def test_unlocking_a_user_is_documented(spec):
    operation = spec["paths"]["/api/v1/users/{username}/unlock"]["post"]
    assert {"200", "401", "403", "404", "422"} <= set(operation["responses"])
    assert set(_body_schema(spec, operation)["properties"]) == {"purpose"}
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert set(spec["components"]["schemas"][answer.rsplit("/", 1)[-1]]["properties"]) == {
        "username",
        "unlocked",
    }
