"""The Models page loads the version history a page at a time: "Load more" adds the next page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from digitrec.store import ModelHistory, open_blob_store
from tests.live_server import LiveServer

VERSIONS = 60  # more than one page of 50


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    store = tmp_path_factory.mktemp("history") / "store"
    history = ModelHistory(open_blob_store(str(store)))
    for version in range(1, VERSIONS + 1):
        info = {"digit": version % 10, "accuracy": {"fnn_updated": 0.9, "cnn_updated": 0.95}}
        assert history.publish(version - 1, None, info) is not None
    with LiveServer(env={"DIGITREC_STORE": str(store)}, workers=1) as live:
        yield live


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield page
    context.close()
    assert errors == [], f"console errors: {errors}"


def test_load_more_adds_the_next_page_of_versions_until_none_is_left(page: Page) -> None:
    page.goto("/models")
    rows = page.locator("[data-testid=history-table] tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first.locator("td").first).to_have_text(str(VERSIONS))
    more = page.get_by_test_id("history-more")
    expect(more).to_be_visible()
    more.click()
    expect(rows).to_have_count(VERSIONS)
    expect(rows.last.locator("td").first).to_have_text("1")
    expect(more).to_be_hidden()
    expect(page.get_by_test_id("model-version")).to_have_text(f"Version {VERSIONS}")
