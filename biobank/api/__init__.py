"""The JSON API under /api/v1 (DESIGN §5): thin routes, parse → one service call → dump."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Flask, render_template, request, send_from_directory

from biobank.api.common import BoundedJSONProvider, RecordIdConverter, record_id_schema
from biobank.api.idempotency import init_idempotency
from biobank.errors import UnsupportedMediaType
from biobank.extensions import api, csrf

SWAGGER_ASSETS = Path(flask_swagger_ui.__file__).resolve().parent / "dist"

docs = Blueprint("api_docs", __name__, url_prefix="/api/v1/docs")


@docs.get("")
@docs.get("/")
def docs_page():
    """Swagger UI, served from the app's own copy of its assets so it works offline."""
    return render_template("api_docs.html")


@docs.get("/assets/<path:filename>")
def docs_asset(filename: str):
    return send_from_directory(SWAGGER_ASSETS, filename, max_age=3600)


JSON_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def require_json_bodies() -> None:
    """A write with a body must say it is JSON (uploads excepted), or it is a clear 415."""
    if not request.path.startswith("/api/v1/") or request.method not in JSON_BODY_METHODS:
        return
    has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding")
    if has_body and not request.is_json and request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            f"This endpoint takes JSON: send Content-Type: application/json "
            f"(got {request.mimetype or 'no content type'})."
        )


def register_api(app: Flask) -> None:
    from biobank.api import (
        auth,
        catalogue,
        collections,
        custody,
        distribution,
        distribution_exports,
        interop,
        labels,
        participants,
        printers,
        reports,
        samples,
        shipments,
        sites,
        storage,
        users,
    )

    app.json = BoundedJSONProvider(app)
    app.url_map.converters["id"] = RecordIdConverter
    api.init_app(
        app,
        spec_kwargs={
            "info": {
                "description": "Biobank sample tracking: collections, labels, shipments, "
                "receiving and storage. Authenticate with a bearer token from "
                "POST /api/v1/auth/tokens. Errors are application/problem+json."
            },
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer"},
                }
            },
            "security": [{"bearerAuth": []}],
            "servers": [{"url": "/"}],
        },
    )
    blueprints = [
        module.blp
        for module in (
            auth,
            sites,
            catalogue,
            participants,
            collections,
            samples,
            custody,
            labels,
            printers,
            shipments,
            reports,
            storage,
            distribution,
            distribution_exports,
            interop,
            users,
        )
    ] + [samples.handling]
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
        # Bearer-token callers carry no cookies to forge; session callers are checked in
        # biobank.security with the X-CSRFToken header.
        csrf.exempt(blueprint)
    api.register_converter(RecordIdConverter, record_id_schema)
    app.register_blueprint(docs)
    app.before_request(require_json_bodies)
    init_idempotency(app)
