"""Crawl every page each role can reach from its home page, and check each one:
every POST form carries a CSRF token; every field has a label; the page has a language, a
title and one main heading; nothing is loaded from another host."""

from __future__ import annotations

from collections import deque
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from biobank.services.storage import placing
from biobank.unit_of_work import unit_of_work

SKIP_SUFFIXES = (".pdf", ".zpl", ".csv", ".json")
SKIP_PATHS = ("/logout", "/api/")
MAX_PAGES = 120


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[dict] = []
        self.fields: list[dict] = []
        self.labels_for: set[str] = set()
        self.label_depth = 0
        self.h1 = 0
        self.lang = None
        self.title = ""
        self._in_title = False
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "title":
            self._in_title = True
        elif tag == "h1":
            self.h1 += 1
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self.forms.append(
                {
                    "method": (a.get("method") or "get").lower(),
                    "action": a.get("action"),
                    "csrf": False,
                }
            )
        elif tag == "label":
            self.label_depth += 1
            if a.get("for"):
                self.labels_for.add(a["for"])
        elif tag in ("input", "select", "textarea"):
            if tag == "input" and a.get("name") == "csrf_token" and self.forms:
                self.forms[-1]["csrf"] = True
            kind = a.get("type", "text")
            if kind not in ("hidden", "submit", "button", "reset", "image"):
                self.fields.append({**a, "tag": tag, "wrapped": self.label_depth > 0})
        for attribute in ("src", "href"):
            value = a.get(attribute) or ""
            if value.startswith(("http://", "https://", "//")):
                self.external.append(value)

    def handle_endtag(self, tag):
        if tag == "label":
            self.label_depth -= 1
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def crawl(client) -> dict[str, PageParser]:
    seen: dict[str, PageParser] = {}
    queue = deque(["/"])
    while queue and len(seen) < MAX_PAGES:
        path = queue.popleft()
        if path in seen:
            continue
        response = client.get(path)
        if response.status_code in (301, 302):
            target = urlsplit(response.headers["Location"])
            if not target.netloc:
                queue.append(target.path + (f"?{target.query}" if target.query else ""))
            continue
        assert response.status_code < 500, (path, response.status_code)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        page = PageParser()
        page.feed(response.get_data(as_text=True))
        seen[path] = page
        for href in page.links:
            target = urlsplit(urljoin(path, href))
            if target.netloc or not target.path.startswith("/"):
                continue
            if target.path.endswith(SKIP_SUFFIXES) or target.path.startswith(SKIP_PATHS):
                continue
            queue.append(target.path + (f"?{target.query}" if target.query else ""))
    return seen


@pytest.fixture
def busy_program(
    collector, technician, start_collection, received_tubes, freezer, boxes, dispatched_shipment
):
    """Something of everything, so every kind of page exists."""
    start_collection(collector, "P100000001")
    dispatched_shipment(collector, participant_id="P100000002")
    tubes = received_tubes(collector, participant_id="P100000003")
    with unit_of_work():
        placing.store_many(technician, freezer, [t.barcode for t in tubes[:4]])
    from biobank.services.shipping import sending

    with unit_of_work():
        sending.open_shipment(collector, destination="MAYO-BB", temperature="refrigerated")


@pytest.mark.parametrize("role", ["collector", "technician", "coordinator", "admin"])
def test_every_page_a_role_reaches_is_sound(request, busy_program, login, role):
    user = request.getfixturevalue(role)
    pages = crawl(login(user))
    assert len(pages) >= 12, sorted(pages)  # the crawl really went through the app
    problems = []
    for path, page in pages.items():
        if page.lang != "en":
            problems.append(f"{path}: no lang")
        if not page.title.strip():
            problems.append(f"{path}: no title")
        if page.h1 != 1:
            problems.append(f"{path}: {page.h1} h1 headings")
        if page.external:
            problems.append(f"{path}: loads {page.external}")
        for form in page.forms:
            if form["method"] == "post" and not form["csrf"]:
                problems.append(f"{path}: POST form to {form['action']} without csrf_token")
        for field in page.fields:
            labelled = (
                field["wrapped"]
                or field.get("id") in page.labels_for
                or field.get("aria-label")
                or field.get("aria-labelledby")
            )
            if not labelled:
                problems.append(f"{path}: {field['tag']} {field.get('name')} has no label")
    assert problems == []
