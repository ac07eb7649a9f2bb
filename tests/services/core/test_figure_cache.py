from __future__ import annotations

import pytest

from biobank.services.core import figure_cache


@pytest.fixture
def cache_for(app, monkeypatch):
    """The cache switched on for ``seconds``, with a clock the test moves."""
    clock = {"now": 1000.0}
    monkeypatch.setattr(figure_cache.time, "monotonic", lambda: clock["now"])
    figure_cache.forget_all()

    def switch_on(seconds: int):
        app.config["BIOBANK_FIGURE_CACHE_SECONDS"] = seconds
        return clock

    yield switch_on
    figure_cache.forget_all()


def counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value

    return compute, calls


def test_a_figure_is_reused_until_it_expires(cache_for):
    clock = cache_for(60)
    compute, calls = counting({"full": 3})

    assert figure_cache.cached_figure("boxes", compute, 1) == {"full": 3}
    clock["now"] += 59
    assert figure_cache.cached_figure("boxes", compute, 1) == {"full": 3}
    assert len(calls) == 1

    clock["now"] += 2
    figure_cache.cached_figure("boxes", compute, 1)
    assert len(calls) == 2


def test_each_question_has_its_own_answer(cache_for):
    cache_for(60)
    assert figure_cache.cached_figure("boxes", lambda: "site 1", 1) == "site 1"
    assert figure_cache.cached_figure("boxes", lambda: "site 2", 2) == "site 2"
    assert figure_cache.cached_figure("freezers", lambda: "freezers", 1) == "freezers"
    assert figure_cache.cached_figure("boxes", lambda: "recomputed", 1) == "site 1"


def test_zero_seconds_turns_the_cache_off(cache_for):
    cache_for(0)
    compute, calls = counting(7)
    figure_cache.cached_figure("boxes", compute)
    figure_cache.cached_figure("boxes", compute)
    assert len(calls) == 2


def test_the_dashboards_serve_their_program_figures_from_the_cache(cache_for, coordinator):
    from biobank.services.reporting import dashboards

    cache_for(60)
    first = dashboards.dashboard_for(coordinator)
    again = dashboards.dashboard_for(coordinator)
    cached = [c for c in again.charts if c.title.startswith(("Collection", "Freezer"))]
    assert len(cached) == 2
    assert all(any(c is f for f in first.charts) for c in cached)
