"""The pages in a real browser (Debian Chromium via Playwright) against the real gunicorn server.

One server and one browser for the module; each test opens its own browser
context (fresh page state), so the tests do not depend on each other except through the
model version, which they read before they act. Every test's page must leave the browser
console free of errors and warnings.
"""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import zlib
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, Request, Route, expect

from digitrec.canvas import ink_to_png
from tests.browser_helpers import SCRIBBLE, draw_digits, draw_with_mouse, place, watch_console
from tests.live_server import LiveServer

PAGES = ["/", "/collect", "/gallery", "/models", "/how-it-works", "/about"]
WAIT_MS = 30_000  # a loaded 2-core machine may take a while to answer; expect() polls, it does not sleep

expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(workers=1) as live:
        yield live


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.url)
    page = context.new_page()
    problems: list[str] = []
    watch_console(page, problems)
    yield page
    context.close()
    assert problems == [], "the browser console reported problems"


def open_draw_page(page: Page, live: bool = True) -> None:
    page.goto("/")
    expect(page.get_by_test_id("model-version")).to_have_text(re.compile(r"Model version \d+"))
    if not live:
        page.get_by_test_id("live").uncheck()


def model_version(page: Page) -> int:
    return int(page.get_by_test_id("model-version").inner_text().rsplit(" ", 1)[1])


def predict(page: Page) -> dict:
    """Press Predict and return the API's answer once the page shows it."""
    with page.expect_response("**/api/predict") as response:
        page.get_by_test_id("predict").click()
    expect(page.get_by_test_id("predict")).to_be_enabled()
    return response.value.json()


def recorded_requests(page: Page, path: str) -> list[Request]:
    """A list that fills with every request the page sends to `path`."""
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request) if request.url.endswith(path) else None)
    return sent


def draw_predict_answer(page: Page, digit: str) -> dict:
    open_draw_page(page, live=False)
    draw_digits(page, digit)
    result = predict(page)
    expect(page.get_by_test_id("answer")).to_have_text(digit)
    return result


def test_mouse_drawing_and_predict_shows_the_answer_the_table_and_the_preview(page: Page) -> None:
    open_draw_page(page, live=False)
    draw_digits(page, "3")
    expect(page.get_by_test_id("answer")).to_be_hidden()  # nothing is sent until Predict with Live off

    result = predict(page)

    assert result["answer"] == "3"
    expect(page.get_by_test_id("answer")).to_have_text("3")
    expect(page.get_by_test_id("input-preview")).to_have_attribute(
        "src", re.compile(r"^data:image/png;base64,")
    )
    expect(page.get_by_test_id("models-table")).to_be_hidden()
    page.get_by_test_id("show-info").click()
    table = page.get_by_test_id("models-table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(table.locator("tbody tr[data-model=cnn_updated] td").first).to_contain_text("3")


def test_the_page_sends_its_canvas_as_an_8_bit_gray_png(page: Page) -> None:
    open_draw_page(page, live=False)
    draw_digits(page, "3")
    sent = recorded_requests(page, "/api/predict")
    predict(page)

    data_url = json.loads(sent[0].post_data or "{}")["image"]
    assert data_url.startswith("data:image/png;base64,")
    png = base64.b64decode(data_url.split(",", 1)[1])
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.mode, image.size) == ("PNG", "L", (280, 280))
    canvas = page.evaluate(
        """() => {
          const canvas = document.querySelector('[data-testid=canvas]');
          return Array.from(canvas.getContext('2d').getImageData(0, 0, 280, 280).data);
        }"""
    )
    rgba = np.array(canvas, dtype=np.uint8).reshape(280, 280, 4)
    assert (rgba[..., 3] == 255).all() and rgba[..., :3].min() == 0
    gray = np.asarray(Image.fromarray(rgba, "RGBA").convert("L"))
    np.testing.assert_array_equal(np.asarray(image), gray)
    # Made as digitrec.canvas makes the benchmark's drawings: one zlib stream of unfiltered rows.
    assert _rows(png) == _rows(ink_to_png((255.0 - gray) / 255.0))
    assert _rows(png)[:: 280 + 1] == bytes(280)  # filter type 0 on every row


def test_a_browser_without_compression_streams_sends_the_canvas_own_png(page: Page) -> None:
    page.add_init_script("delete window.CompressionStream")
    open_draw_page(page, live=False)
    draw_digits(page, "3")
    sent = recorded_requests(page, "/api/predict")

    assert predict(page)["answer"] == "3"
    png = base64.b64decode(json.loads(sent[0].post_data or "{}")["image"].split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).mode == "RGBA"


def _rows(png: bytes) -> bytes:
    """A PNG's pixel rows as stored, each with its filter byte: its IDAT chunks, inflated."""
    idat, position = b"", 8
    while position < len(png):
        (length,) = struct.unpack_from(">I", png, position)
        if png[position + 4 : position + 8] == b"IDAT":
            idat += png[position + 8 : position + 8 + length]
        position += 12 + length
    return zlib.decompress(idat)


def test_live_prediction_appears_without_pressing_predict(page: Page) -> None:
    open_draw_page(page)
    with page.expect_response("**/api/predict"):
        draw_digits(page, "7")
    expect(page.get_by_test_id("answer")).to_have_text("7")
    chart = page.get_by_test_id("probability-chart")
    expect(chart.locator("figure")).to_have_count(4)
    expect(chart.locator(".bars__model--voter .hist__bar--best")).to_have_count(2)


def test_live_answers_arrive_while_the_pen_is_still_down(page: Page) -> None:
    open_draw_page(page)
    sent = recorded_requests(page, "/api/predict")
    canvas = page.get_by_test_id("canvas").bounding_box()
    assert canvas is not None
    x, top = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] * 0.15

    page.mouse.move(x, top)
    page.mouse.down()
    page.mouse.move(x, top + canvas["height"] * 0.7, steps=30)
    for _ in range(600):  # the pen rests on the pad, still pressed
        if sent:
            break
        page.wait_for_timeout(50)

    assert sent, "no prediction was requested before the pen lifted"
    expect(page.get_by_test_id("answer")).to_have_text("1")
    page.mouse.up()


def test_an_answer_arriving_after_clear_is_dropped(page: Page) -> None:
    open_draw_page(page)
    held: list[Route] = []
    page.route("**/api/predict", lambda route: held.append(route))  # held until the test lets it go
    draw_digits(page, "7")
    for _ in range(600):  # the live request leaves shortly after the stroke ends
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "no live prediction was requested"

    page.get_by_test_id("clear").click()
    with page.expect_response("**/api/predict"):
        held[0].continue_()
    page.evaluate("() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)))")

    expect(page.get_by_test_id("answer")).to_be_hidden()
    expect(page.locator("[data-boxes] rect")).to_have_count(0)


def test_the_draw_page_is_keyboard_reachable(page: Page) -> None:
    draw_predict_answer(page, "1")
    reached = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.dataset.testid ?? ''"))

    assert {
        "clear",
        "predict",
        "show-info",
        "consent",
        "feedback-yes",
        "feedback-no",
        "feedback-not-digit",
    } <= reached
    page.locator("h1").click()  # Esc clears unless the focus is in a form field
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("answer")).to_be_hidden()


def test_touch_drawing_on_a_phone_predicts_without_scrolling(browser: Browser, server: LiveServer) -> None:
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
        base_url=server.url,
    )
    try:
        page = context.new_page()
        open_draw_page(page)
        page.evaluate(
            """() => {
              window.pointerTypes = [];
              document.querySelector('[data-testid=canvas]')
                .addEventListener('pointerdown', (event) => window.pointerTypes.push(event.pointerType));
            }"""
        )
        scrolled_before = page.evaluate("window.scrollY")

        draw_digits(page, "1", touch=True)

        expect(page.get_by_test_id("answer")).to_have_text("1")
        assert page.evaluate("window.pointerTypes") == ["touch"]
        assert page.evaluate("window.scrollY") == scrolled_before  # the downward stroke did not scroll
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    finally:
        context.close()


def test_clear_empties_the_pad_and_the_answer(page: Page) -> None:
    draw_predict_answer(page, "0")
    expect(page.locator("[data-boxes] rect")).to_have_count(1)

    page.get_by_test_id("clear").click()

    expect(page.get_by_test_id("answer")).to_be_hidden()
    expect(page.locator("[data-boxes] rect")).to_have_count(0)
    ink = page.evaluate(
        """() => {
          const canvas = document.querySelector('[data-testid=canvas]');
          const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          return pixels.some((value, index) => index % 4 !== 3 && value !== 255);
        }"""
    )
    assert ink is False


def test_predict_waits_for_a_drawing_and_the_placeholder_matches_live(page: Page) -> None:
    sent = recorded_requests(page, "/api/predict")
    open_draw_page(page)
    expect(page.get_by_test_id("predict")).to_be_disabled()
    placeholder = page.locator("[data-placeholder]")
    expect(placeholder).to_contain_text("The answer appears as you draw.")
    page.get_by_test_id("live").uncheck()
    expect(placeholder).to_contain_text("Then press Predict.")
    expect(placeholder).not_to_contain_text("as you draw")

    draw_digits(page, "1")
    expect(page.get_by_test_id("predict")).to_be_enabled()
    page.get_by_test_id("undo").click()
    expect(page.get_by_test_id("predict")).to_be_disabled()
    assert sent == []


def test_yes_with_consent_teaches_the_predicted_digit(page: Page) -> None:
    draw_predict_answer(page, "2")
    before = model_version(page)
    sent = recorded_requests(page, "/api/feedback")

    page.get_by_test_id("consent").check()
    with page.expect_response("**/api/feedback") as response:
        page.get_by_test_id("feedback-yes").click()

    assert json.loads(sent[0].post_data or "{}")["digit"] == 2
    reply = response.value.json()
    assert reply["accepted"] is True
    expect(page.get_by_test_id("feedback-message")).to_contain_text("learned that this is a 2")
    expect(page.get_by_test_id("model-version")).to_have_text(f"Model version {before + 1}")
    expect(page.get_by_test_id("feedback-yes")).to_be_disabled()  # one lesson per answer


def test_no_with_a_correction_adds_a_version_that_the_next_prediction_reports(page: Page) -> None:
    draw_predict_answer(page, "4")
    before = model_version(page)
    expect(page.get_by_test_id("correct-digit")).to_be_hidden()

    page.get_by_test_id("consent").check()
    page.get_by_test_id("feedback-no").click()
    page.get_by_test_id("correct-digit").select_option("9")
    with page.expect_response("**/api/feedback") as response:
        page.get_by_test_id("submit-correction").click()

    assert response.value.json()["model_version"] == before + 1
    expect(page.get_by_test_id("feedback-message")).to_contain_text("learned that this is a 9")
    expect(page.get_by_test_id("model-version")).to_have_text(f"Model version {before + 1}")

    page.get_by_test_id("clear").click()
    draw_digits(page, "4")
    assert predict(page)["model_version"] == before + 1
    expect(page.get_by_test_id("model-version")).to_have_text(f"Model version {before + 1}")


def test_a_drawing_read_as_no_digit_asks_an_unambiguous_question(page: Page) -> None:
    open_draw_page(page, live=False)
    draw_with_mouse(page, place(SCRIBBLE))
    result = predict(page)
    assert result["answer"] is None

    expect(page.get_by_test_id("feedback-yes")).to_be_hidden()
    expect(page.get_by_test_id("feedback-not-digit")).to_have_text("Right, it's not a digit")
    expect(page.get_by_test_id("feedback-no")).to_have_text("It is a digit")
    page.get_by_test_id("show-info").click()
    chart = page.get_by_test_id("probability-chart")
    expect(chart.locator(".hist__bar--best")).to_have_count(0)  # no guess is drawn as the answer
    for caption in chart.locator(".bars__best").all_inner_texts():
        assert caption.startswith("guess ")


def test_picking_the_digit_the_models_said_after_no_gets_a_word(page: Page) -> None:
    draw_predict_answer(page, "7")
    page.get_by_test_id("feedback-no").click()
    hint = page.get_by_test_id("same-digit-hint")
    page.get_by_test_id("correct-digit").select_option("1")
    expect(hint).to_be_hidden()

    page.get_by_test_id("correct-digit").select_option("7")

    expect(hint).to_have_text("The models said 7 too. If 7 is right, answer Yes.")
    page.get_by_test_id("correct-digit").select_option("9")
    expect(hint).to_be_hidden()


def test_not_a_digit_thanks_and_sends_nothing(page: Page) -> None:
    open_draw_page(page, live=False)
    draw_with_mouse(page, place(SCRIBBLE))
    predict(page)
    before = model_version(page)
    sent = recorded_requests(page, "/api/feedback")

    page.get_by_test_id("consent").check()
    page.get_by_test_id("feedback-not-digit").click()

    expect(page.get_by_test_id("feedback-message")).to_contain_text("not digits are not stored")
    assert sent == []
    assert server_version(page) == before


def test_without_consent_nothing_is_sent_and_the_page_says_what_would_have_happened(page: Page) -> None:
    draw_predict_answer(page, "7")
    before = model_version(page)
    sent = recorded_requests(page, "/api/feedback")

    page.get_by_test_id("feedback-no").click()
    page.get_by_test_id("correct-digit").select_option("1")
    page.get_by_test_id("submit-correction").click()

    expect(page.get_by_test_id("feedback-message")).to_contain_text("Nothing was sent")
    expect(page.get_by_test_id("feedback-message")).to_contain_text("stored as a 1")
    assert sent == []
    assert server_version(page) == before

    page.get_by_test_id("consent").check()  # changing one's mind still works
    with page.expect_response("**/api/feedback"):
        page.get_by_test_id("submit-correction").click()
    assert json.loads(sent[0].post_data or "{}")["digit"] == 1


def test_a_drawn_42_answers_42_with_two_boxes(page: Page) -> None:
    open_draw_page(page)
    draw_digits(page, "42")

    expect(page.get_by_test_id("answer")).to_have_text("42")
    expect(page.locator("[data-boxes] rect")).to_have_count(2)
    expect(page.locator("[data-boxes] text")).to_have_text(["4", "2"])


def test_no_on_several_digits_takes_the_right_string_and_teaches_it(page: Page) -> None:
    draw_predict_answer(page, "42")
    before = model_version(page)
    sent = recorded_requests(page, "/api/feedback")
    page.get_by_test_id("consent").check()
    page.get_by_test_id("feedback-no").click()
    expect(page.get_by_test_id("correct-digit")).to_be_hidden()
    digits = page.get_by_test_id("correct-digits")
    expect(digits).to_have_value("42")

    digits.fill("4")
    page.get_by_test_id("submit-correction").click()
    expect(page.get_by_test_id("feedback-message")).to_have_text(
        "Please type 2 digits, one for each box, left to right."
    )
    assert sent == []

    digits.fill("47")
    with page.expect_response("**/api/feedback") as response:
        page.get_by_test_id("submit-correction").click()

    assert json.loads(sent[0].post_data or "{}")["digit"] == "47"
    assert response.value.json()["model_version"] == before + 1
    expect(page.get_by_test_id("feedback-message")).to_contain_text("learned that this is “47”")


def test_collect_page_saves_a_labelled_drawing_and_counts_it(page: Page, server: LiveServer) -> None:
    page.goto("/collect")
    count = page.locator("[data-testid=collect-counts] li[data-digit='7'] .counts__n")
    expect(count).to_have_text(re.compile(r"^\d+ samples?$"))
    before = int(count.inner_text().split()[0])

    page.get_by_test_id("collect-digit").select_option("7")
    draw_digits(page, "7")
    with page.expect_response("**/api/samples") as response:
        page.get_by_test_id("collect-save").click()

    assert response.value.status == 201
    expect(page.get_by_test_id("feedback-message")).to_have_text("Saved a 7. Draw the next one.")
    expect(count).to_have_text(f"{before + 1} samples" if before else "1 sample")
    sample_id = response.value.json()["sample_id"]
    metadata = server.get_json(f"/api/samples/{sample_id}")
    assert (metadata["digit"], metadata["source"]) == (7, "collect")
    stored = server.get_json("/api/samples?digit=7")["samples"]
    assert sample_id in [sample["sample_id"] for sample in stored]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_without_console_errors_or_warnings(page: Page, path: str) -> None:
    response = page.goto(path)

    assert response is not None and response.status == 200
    expect(page.locator("h1")).to_be_visible()
    page.wait_for_load_state("networkidle")
    # the `page` fixture asserts the console stayed clean


def server_version(page: Page) -> int:
    """The model version the server reports right now."""
    return page.request.get("/healthz").json()["model_version"]
