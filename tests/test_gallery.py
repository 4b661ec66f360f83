"""The gallery page and the Models page's learning dashboard, in a real browser against the real server."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect

from digitrec.canvas import ink_to_png, render_digit, render_ink
from digitrec.data import load_split
from digitrec.store import SampleStore, open_blob_store
from tests.browser_helpers import draw_digits
from tests.live_server import LiveServer

TOKEN = "gallery-test-token"
PAGE_SIZE = 24
SEEDED = 30  # samples in the store before the server starts: more than one page


@pytest.fixture(scope="module")
def test_split():
    return load_split("test")


@pytest.fixture(scope="module")
def server(tmp_path_factory, test_split) -> Iterator[LiveServer]:
    store = tmp_path_factory.mktemp("gallery") / "store"
    samples = SampleStore(open_blob_store(str(store)))
    for i in range(SEEDED):
        digit = i % 10
        image = test_split.images[np.flatnonzero(test_split.labels == digit)[i // 10]]
        samples.add(ink_to_png(render_ink(image)), digit, "collect")
    env = {
        "DIGITREC_STORE": str(store),
        "DIGITREC_ADMIN_TOKEN": TOKEN,
        "DIGITREC_RATE_UPLOADS": "1000/1",
        "DIGITREC_RATE_PREDICT": "1000/1",
    }
    with LiveServer(env=env, workers=1) as live:
        yield live


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.url)
    page = context.new_page()
    errors: list[str] = []
    # A refused request (e.g. a wrong admin token) is logged by the browser; that is no script error.
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type in ("error", "warning")
            and "the server responded with a status of 4" not in message.text
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"console errors or warnings: {errors}"


def cards(page: Page):
    return page.get_by_test_id("gallery-sample")


def open_gallery(page: Page) -> None:
    page.goto("/gallery")
    expect(cards(page).first).to_be_visible()


def sample_digit(page: Page, sample_id: str) -> int | None:
    response = page.request.get(f"/api/samples/{sample_id}")
    return response.json()["digit"] if response.ok else None


def test_the_gallery_lists_a_sample_saved_from_the_collect_page(page: Page) -> None:
    page.goto("/collect")
    page.get_by_test_id("collect-digit").select_option("3")
    draw_digits(page, "3")
    with page.expect_response("**/api/samples") as response:
        page.get_by_test_id("collect-save").click()
    saved = response.value.json()["sample_id"]

    open_gallery(page)
    first = cards(page).first
    assert first.get_attribute("data-sample-id") == saved
    expect(first.get_by_test_id("sample-digit")).to_have_text("3")
    expect(first).to_contain_text("collect")
    thumbnail = first.locator("img")
    expect(thumbnail).to_have_attribute("src", f"/api/samples/{saved}.png")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())


def test_filtering_by_digit_shows_only_that_digit(page: Page) -> None:
    open_gallery(page)
    with page.expect_response(re.compile(r"/api/samples\?.*digit=4")):
        page.get_by_test_id("gallery-digit").select_option("4")
    expect(cards(page)).to_have_count(3)
    assert cards(page).get_by_test_id("sample-digit").all_inner_texts() == ["4", "4", "4"]


def test_older_and_newer_page_through_the_samples(page: Page) -> None:
    open_gallery(page)
    expect(cards(page)).to_have_count(PAGE_SIZE)
    first_id = cards(page).first.get_attribute("data-sample-id")
    expect(page.get_by_test_id("gallery-newer")).to_be_disabled()

    page.get_by_test_id("gallery-older").click()
    expect(page.get_by_test_id("gallery-page")).to_have_text("Page 2")
    expect(cards(page).first).not_to_have_attribute("data-sample-id", first_id)
    assert cards(page).count() >= SEEDED - PAGE_SIZE
    expect(page.get_by_test_id("gallery-older")).to_be_disabled()

    page.get_by_test_id("gallery-newer").click()
    expect(page.get_by_test_id("gallery-page")).to_have_text("Page 1")
    expect(cards(page).first).to_have_attribute("data-sample-id", first_id)


def open_admin(page: Page, token: str) -> None:
    page.get_by_test_id("admin-open").click()
    page.get_by_test_id("admin-token").fill(token)


def test_a_sample_opens_larger_with_its_details_and_a_download_link(page: Page) -> None:
    open_gallery(page)
    card = cards(page).first
    sample_id = card.get_attribute("data-sample-id")
    digit = card.get_by_test_id("sample-digit").inner_text()
    dialog = page.get_by_test_id("sample-dialog")
    expect(dialog).to_be_hidden()

    card.get_by_test_id("sample-open").click()

    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("sample-dialog-digit")).to_have_text(digit)
    expect(dialog).to_contain_text("the collect page")
    expect(dialog.locator("[data-sample-created]")).to_have_text(re.compile(r"\d{4}"))
    download = page.get_by_test_id("sample-download")
    expect(download).to_have_attribute("href", f"/api/samples/{sample_id}.png")
    image = dialog.locator("img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.bounding_box()["width"] > 2 * card.locator("img").bounding_box()["width"]
    with page.expect_download() as saved:
        download.click()
    assert saved.value.suggested_filename == f"digit{digit}__{sample_id}.png"

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_the_admin_token_box_is_hidden_until_admin_is_asked_for(page: Page) -> None:
    open_gallery(page)
    expect(page.get_by_test_id("admin-token")).to_be_hidden()
    expect(page.get_by_text("Curate")).to_be_hidden()

    page.get_by_test_id("admin-open").click()

    expect(page.get_by_test_id("admin-token")).to_be_visible()
    expect(page.get_by_test_id("admin-token")).to_be_focused()


def test_curating_needs_the_admin_token(page: Page) -> None:
    open_gallery(page)
    expect(cards(page).first.get_by_test_id("relabel")).to_have_count(0)
    open_admin(page, "not-the-token")
    card = cards(page).nth(1)
    sample_id = card.get_attribute("data-sample-id")
    before = sample_digit(page, sample_id)
    card.get_by_test_id("relabel-digit").select_option(str((before + 1) % 10))
    card.get_by_test_id("relabel").click()
    expect(page.get_by_test_id("gallery-message")).to_have_text("The admin token was not accepted.")
    assert sample_digit(page, sample_id) == before


def test_the_admin_relabels_and_deletes_a_sample(page: Page) -> None:
    open_gallery(page)
    open_admin(page, TOKEN)
    card = cards(page).nth(2)
    sample_id = card.get_attribute("data-sample-id")
    new_digit = (sample_digit(page, sample_id) + 5) % 10

    card.get_by_test_id("relabel-digit").select_option(str(new_digit))
    card.get_by_test_id("relabel").click()
    expect(page.get_by_test_id("gallery-message")).to_have_text(f"Relabelled as {new_digit}.")
    expect(page.locator(f"[data-sample-id='{sample_id}'] [data-testid=sample-digit]")).to_have_text(
        str(new_digit)
    )
    assert sample_digit(page, sample_id) == new_digit

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"[data-sample-id='{sample_id}'] [data-testid=delete]").click()
    expect(page.get_by_test_id("gallery-message")).to_have_text("Deleted.")
    expect(page.locator(f"[data-sample-id='{sample_id}']")).to_have_count(0)
    assert sample_digit(page, sample_id) is None


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def teach(page: Page, image: np.ndarray, digit: int) -> dict:
    response = page.request.post(
        "/api/feedback", data={"image": data_url(render_digit(image)), "digit": digit}
    )
    assert response.ok, response.text()
    return response.json()


def dots(page: Page, series: str) -> int:
    return page.locator(f"[data-testid=history-chart] [data-series='{series}'] circle").count()


def test_the_dashboard_chart_shows_a_new_point_after_a_correction(page: Page, test_split) -> None:
    seven = test_split.images[np.flatnonzero(test_split.labels == 7)[0]]
    assert teach(page, seven, 7)["accepted"]
    page.goto("/models")
    expect(page.locator("[data-testid=history-chart] circle").first).to_be_visible()
    before = dots(page, "FNN updated")

    assert teach(page, seven, 7)["accepted"]
    page.reload()
    expect(page.locator("[data-testid=history-chart] [data-series='FNN updated'] circle")).to_have_count(
        before + 1
    )
    assert dots(page, "CNN updated") == before + 1


def test_the_dashboard_counts_corrections_per_digit_and_what_was_answered(page: Page, test_split) -> None:
    page.goto("/models")
    bar = page.locator("[data-testid=corrections-chart] g[data-digit='2'] text").first
    expect(bar).to_be_attached()
    taught_before = int(bar.text_content() or 0)

    one = test_split.images[np.flatnonzero(test_split.labels == 1)[0]]
    teach(page, one, 2)  # a 1 said to be a 2: a correction, whether or not the update is accepted
    models = page.request.get("/api/models").json()
    last = max(models["history"] + models["refused"], key=lambda record: record["created"])
    answered = last["predicted"][0]
    row = "none" if answered is None else str(answered)

    page.reload()
    expect(bar).to_have_text(str(taught_before + 1))
    cell = page.locator(f"[data-testid=confusion-matrix] td[data-predicted='{row}'][data-digit='2']")
    expect(cell).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(page.get_by_test_id("refused-summary")).to_contain_text("refused by the safety check")


def test_gallery_page_is_reachable_from_the_navigation(page: Page) -> None:
    page.goto("/")
    page.get_by_role("link", name="Gallery").click()
    expect(page).to_have_url(re.compile(r"/gallery$"))
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible()
