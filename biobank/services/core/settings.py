"""Operator settings as the services see them (read from the app config, never the request)."""

from __future__ import annotations

from typing import Any

from flask import current_app


def setting(name: str) -> Any:
    return current_app.config[name]
