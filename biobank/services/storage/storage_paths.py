"""Where a tube is: its freezer › shelf › box › position path (read-only helper)."""

from __future__ import annotations

from typing import Any

from biobank.models import Container, Sample


def container_path(container: Container) -> list[Container]:
    """From the freezer down to this container."""
    path = [container]
    while path[0].parent is not None:
        path.insert(0, path[0].parent)
    return path


def location_of(sample: Sample) -> dict[str, Any] | None:
    position = sample.position
    if position is None or position.sample_id is None:
        return None
    path = container_path(position.box)
    return {
        "freezer": path[0].name,
        "path": [c.name for c in path],
        "box": position.box.name,
        "box_id": position.box_id,
        "position": position.label,
    }
