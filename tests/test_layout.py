"""The draw page as a person uses it, on a 1280x800 desktop (mouse) and a 390x844 phone (touch),
in real Chromium against the real server: the feedback question in view after an answer, undo,
pen size, opt-in consent, the 404 page, and a console without errors or warnings throughout."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_helpers import (
    DESKTOP,
    PHONE,
    Screen,
    draw_digits,
    draw_strokes,
    watch_console,
)
from tests.live_server import LiveServer

WAIT_MS = 30_000

expect.set_options(timeout=WAIT_MS)


SCREENS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]

# Two strokes in pad pixels that do not touch: a bar across the top, a bar down the right.
# The reason phrase is the server's own wording, so only the status is compared.
DOCUMENT_404 = "the server responded with a status of 404"
TOP_BAR = [[(50.0, 60.0), (200.0, 60.0)]]
RIGHT_BAR = [[(230.0, 110.0), (230.0, 250.0)]]


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(workers=1) as live:
        yield live


@pytest.fixture
def console() -> list[str]:
    """Every console error or warning and page error of the test's page (must stay empty)."""
    return []


def open_page(browser: Browser, server: LiveServer, screen: Screen, console: list[str]) -> Page:
    context = browser.new_context(
        viewport={"width": screen.width, "height": screen.height},
        has_touch=screen.touch,
        is_mobile=screen.touch,
        device_scale_factor=3 if screen.touch else 1,
        base_url=server.url,
    )
    page = context.new_page()
    watch_console(page, console)
    return page


@pytest.fixture(params=SCREENS)
def screen(request: pytest.FixtureRequest) -> Screen:
    return request.param


@pytest.fixture
def page(browser: Browser, server: LiveServer, screen: Screen, console: list[str]) -> Iterator[Page]:
    page = open_page(browser, server, screen, console)
    yield page
    page.context.close()
    assert console == [], "the browser console reported problems"


def open_draw_page(page: Page, live: bool = False) -> None:
    page.goto("/")
    expect(page.get_by_test_id("model-version")).to_have_text(re.compile(r"Model version \d+"))
    if not live:
        page.get_by_test_id("live").uncheck()


def predict(page: Page) -> None:
    with page.expect_response("**/api/predict"):
        page.get_by_test_id("predict").click()
    expect(page.get_by_test_id("predict")).to_have_text("Predict")


def inside_viewport(page: Page, test_id: str) -> bool:
    box = page.get_by_test_id(test_id).evaluate("node => node.getBoundingClientRect().toJSON()")
    size = page.viewport_size
    assert size is not None
    return (
        box["width"] > 0
        and box["top"] >= 0
        and box["left"] >= 0
        and box["bottom"] <= size["height"]
        and box["right"] <= size["width"]
    )


def snapshot(page: Page, name: str) -> None:
    """Keep the canvas pixels (at the screen's resolution) in the page under `name`."""
    page.evaluate(
        """(name) => {
          const canvas = document.querySelector('[data-testid=canvas]');
          window[name] = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        }""",
        name,
    )


def differing_bytes(page: Page, name: str) -> int:
    """How many RGBA bytes of the canvas differ from the snapshot `name`."""
    return page.evaluate(
        """(name) => {
          const canvas = document.querySelector('[data-testid=canvas]');
          const now = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let differ = 0;
          for (let i = 0; i < now.length; i++) if (now[i] !== window[name][i]) differ += 1;
          return differ;
        }""",
        name,
    )


def ink(page: Page, rows: tuple[float, float] = (0.0, 1.0)) -> float:
    """Total ink (0 white .. 1 black per pixel, over every pixel) in a band of rows of the canvas."""
    return page.evaluate(
        """([top, bottom]) => {
          const canvas = document.querySelector('[data-testid=canvas]');
          const y0 = Math.round(top * canvas.height), y1 = Math.round(bottom * canvas.height);
          const data = canvas.getContext('2d').getImageData(0, y0, canvas.width, y1 - y0).data;
          let total = 0;
          for (let i = 0; i < data.length; i += 4) total += (255 - data[i]) / 255;
          return total / (canvas.width * canvas.height / (280 * 280));
        }""",
        list(rows),
    )


def test_after_an_answer_the_feedback_question_is_in_view_with_the_pad(page: Page, screen: Screen) -> None:
    open_draw_page(page)
    draw_digits(page, "3", touch=screen.touch)
    predict(page)
    expect(page.get_by_test_id("answer")).to_have_text("3")
    expect(page.get_by_test_id("feedback-yes")).to_be_enabled()

    for test_id in ("feedback-yes", "feedback-no", "feedback-not-digit", "consent", "answer"):
        assert inside_viewport(page, test_id), f"{test_id} is out of view"
    if screen is DESKTOP:
        assert page.evaluate("window.scrollY") == 0
        assert inside_viewport(page, "canvas")
    else:
        canvas = page.get_by_test_id("canvas").bounding_box()
        assert canvas is not None and canvas["y"] + canvas["height"] > 0.75 * canvas["height"]
    # the details are folded until asked for
    expect(page.get_by_test_id("models-table")).to_be_hidden()
    expect(page.get_by_test_id("probability-chart")).to_be_hidden()
    page.get_by_test_id("show-info").click()
    expect(page.get_by_test_id("show-info")).to_have_text("Hide details")
    expect(page.get_by_test_id("models-table")).to_be_visible()
    expect(page.get_by_test_id("probability-chart").locator("figure")).to_have_count(4)


def test_a_refusal_reads_as_a_sentence_with_the_feedback_question_in_view(page: Page, screen: Screen) -> None:
    open_draw_page(page)
    draw_strokes(page, [[(30.0, 140.0), (250.0, 143.0)]], touch=screen.touch)  # a line across the pad
    predict(page)
    answer = page.get_by_test_id("answer")
    expect(answer).to_have_text("That looks like a line, not a digit.")
    sizes = answer.evaluate(
        "node => [getComputedStyle(node).fontSize, getComputedStyle(document.body).fontSize].map(parseFloat)"
    )
    assert sizes[0] <= 1.5 * sizes[1], f"the sentence is set at {sizes[0]} px, body text at {sizes[1]} px"
    expect(page.get_by_test_id("feedback-no")).to_have_text("It is a digit")
    for test_id in ("feedback-no", "feedback-not-digit", "consent", "answer"):
        assert inside_viewport(page, test_id), f"{test_id} is out of view"


def test_undo_removes_exactly_the_last_stroke(page: Page, screen: Screen) -> None:
    open_draw_page(page)
    expect(page.get_by_test_id("undo")).to_be_disabled()
    draw_strokes(page, TOP_BAR, touch=screen.touch)
    snapshot(page, "oneStroke")
    draw_strokes(page, RIGHT_BAR, touch=screen.touch)
    assert differing_bytes(page, "oneStroke") > 0

    page.get_by_test_id("undo").click()

    assert differing_bytes(page, "oneStroke") == 0
    page.get_by_test_id("undo").click()
    assert ink(page) == 0
    expect(page.get_by_test_id("undo")).to_be_disabled()
    expect(page.get_by_test_id("predict")).to_be_disabled()


def test_ctrl_z_undoes_the_last_stroke_and_the_answer_follows(page: Page, screen: Screen) -> None:
    open_draw_page(page, live=True)
    draw_digits(page, "1", touch=screen.touch)
    expect(page.get_by_test_id("answer")).to_have_text("1")
    snapshot(page, "oneDigit")
    with page.expect_response("**/api/predict"):
        draw_strokes(page, TOP_BAR, touch=screen.touch)

    page.keyboard.press("Control+z")

    assert differing_bytes(page, "oneDigit") == 0
    expect(page.get_by_test_id("answer")).to_have_text("1")  # the live answer is asked again
    page.keyboard.press("Meta+z")
    expect(page.get_by_test_id("answer")).to_be_hidden()
    assert ink(page) == 0


def test_a_new_pen_size_changes_the_ink_of_the_next_stroke_only(page: Page, screen: Screen) -> None:
    open_draw_page(page)
    pen = page.get_by_test_id("pen-size")
    expect(pen).to_have_value("medium")
    draw_strokes(page, RIGHT_BAR, touch=screen.touch)
    medium = ink(page)
    page.get_by_test_id("clear").click()

    draw_strokes(page, TOP_BAR, touch=screen.touch)
    snapshot(page, "firstStroke")
    pen.select_option("thick")
    draw_strokes(page, RIGHT_BAR, touch=screen.touch)

    thick = ink(page) - ink(page, (0.0, 0.3))  # the right bar alone: it starts below the top bar's band
    assert thick > 1.3 * medium
    page.get_by_test_id("undo").click()
    assert differing_bytes(page, "firstStroke") == 0  # the first stroke kept its own width
    pen.select_option("thin")
    draw_strokes(page, RIGHT_BAR, touch=screen.touch)
    assert ink(page) - ink(page, (0.0, 0.3)) < 0.8 * medium

    page.reload()
    expect(page.get_by_test_id("pen-size")).to_have_value("thin")  # remembered in this browser


def test_the_pen_size_is_drawn_as_one_width_in_the_preview(page: Page, screen: Screen) -> None:
    open_draw_page(page)
    previews = []
    for size in ("thin", "thick"):
        page.get_by_test_id("pen-size").select_option(size)
        draw_digits(page, "7", touch=screen.touch)
        predict(page)
        expect(page.get_by_test_id("answer")).to_have_text("7")
        previews.append(page.get_by_test_id("input-preview").get_attribute("src"))
        page.get_by_test_id("clear").click()
    thin_ink, thick_ink = (
        page.evaluate(
            """async (src) => {
              const image = new Image();
              image.src = src;
              await image.decode();
              const canvas = new OffscreenCanvas(28, 28);
              const context = canvas.getContext('2d', { willReadFrequently: true });
              context.drawImage(image, 0, 0);
              const data = context.getImageData(0, 0, 28, 28).data;
              let total = 0;
              for (let i = 0; i < data.length; i += 4) total += (255 - data[i]) / 255;
              return total;
            }""",
            src,
        )
        for src in previews
    )
    assert thick_ink == pytest.approx(thin_ink, rel=0.25)  # the server normalises the pen width


def test_consent_is_opt_in_and_remembered_in_this_browser(
    browser: Browser, server: LiveServer, screen: Screen, console: list[str]
) -> None:
    page = open_page(browser, server, screen, console)
    try:
        open_draw_page(page, live=True)
        consent = page.get_by_test_id("consent")
        expect(consent).not_to_be_checked()
        draw_digits(page, "1", touch=screen.touch)
        consent.check()
        page.reload()
        draw_digits(page, "1", touch=screen.touch)
        expect(consent).to_be_checked()
        consent.uncheck()
        page.reload()
        expect(consent).not_to_be_checked()
    finally:
        page.context.close()

    stranger = open_page(browser, server, screen, console)
    try:
        open_draw_page(stranger)
        expect(stranger.get_by_test_id("consent")).not_to_be_checked()
    finally:
        stranger.context.close()
    assert console == []


def test_an_unknown_page_is_an_html_404_with_a_way_home(
    page: Page, screen: Screen, console: list[str]
) -> None:
    response = page.goto("/no-such-page")

    assert response is not None and response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    expect(page.locator("h1")).to_have_text("There is no page here")
    page.wait_for_load_state("networkidle")
    # Chromium logs the document's own status; nothing else may appear
    assert len(console) == 1 and console[0].startswith(f"error: Failed to load resource: {DOCUMENT_404}")
    console.clear()
    page.get_by_role("link", name="Draw a digit").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_test_id("canvas")).to_be_visible()

    api = page.request.get("/api/no-such-route", headers={"Accept": "text/html,*/*;q=0.8"})
    assert api.status == 404
    assert api.json() == {"error": "There is nothing at this address."}


def test_collect_tiles_pick_the_digit_and_the_tip_fits_the_device(page: Page, screen: Screen) -> None:
    page.goto("/collect")
    tile = page.locator("[data-testid=collect-counts] li[data-digit='6'] button")
    expect(tile).to_have_attribute("aria-pressed", "false")

    tile.click()

    expect(page.get_by_test_id("collect-digit")).to_have_value("6")
    expect(tile).to_have_attribute("aria-pressed", "true")
    keys, touch = page.locator(".keys-hint"), page.locator(".touch-hint")
    if screen.touch:
        expect(keys).to_be_hidden()
        expect(touch).to_be_visible()
        expect(page.locator("main")).not_to_contain_text("Enter to save", use_inner_text=True)
    else:
        expect(keys).to_contain_text("press a number key")
        expect(touch).to_be_hidden()


def test_the_models_page_reads_on_the_screen(page: Page, screen: Screen, draw) -> None:
    body = {"image": "data:image/png;base64," + base64.b64encode(draw(7)).decode(), "digit": 7}
    assert page.request.post("/api/feedback", data=body).ok  # the history chart needs two versions
    page.goto("/models")
    expect(page.locator("[data-testid=history-chart] svg")).to_be_visible()
    expect(page.get_by_test_id("confusion-matrix").locator("table")).to_be_attached()

    assert page.evaluate("document.documentElement.scrollWidth") <= screen.width
    wide = page.evaluate(
        """() => [...document.querySelectorAll('.table-scroll')]
          .filter((wrap) => wrap.scrollWidth > wrap.clientWidth + 1)
          .map((wrap) => wrap.querySelector('table').className)"""
    )
    for table in wide:  # a table that must scroll says so below it
        assert "history-table" in table, f"{table} is cut off"
        expect(page.locator("[data-history-hint]")).to_be_visible()
    smallest = page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('main svg text')].map((text) => {
          const svg = text.ownerSVGElement;
          const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
          return parseFloat(getComputedStyle(text).fontSize) * scale;
        }))"""
    )
    assert smallest >= 11, f"chart text drawn at {smallest:.1f} px"
