"""The HTML pages (digitrec/web/pages.py, templates/, static/): routes, page hooks, CSP-safe markup,
the Models page built from a training report, and the plot files it serves."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from digitrec.web.pages import format_value, read_report, summarise_report

PAGES = {
    "/": "Draw a digit",
    "/collect": "Collect digits",
    "/models": "Models",
    "/how-it-works": "How it works",
    "/about": "About",
    "/gallery": "Gallery",
}
DRAW_HOOKS = [
    "canvas", "clear", "predict", "answer", "models-table", "input-preview", "consent",
    "feedback-yes", "feedback-no", "feedback-not-digit", "correct-digit", "submit-correction",
    "feedback-message", "model-version", "undo", "pen-size",
]  # fmt: skip
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
COLLECT_HOOKS = ["canvas", "clear", "collect-digit", "collect-save", "feedback-message"]
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32  # enough for a file the route serves as is
IMPORT = re.compile(r"""^import .* from "\./([a-z_-]+\.js)";$""", re.MULTILINE)


class Markup(HTMLParser):
    """Collects what a page's HTML contains: tags with attributes, and inline code a strict CSP forbids."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "style" or (tag == "script" and not attributes.get("src")):
            self.inline.append(f"<{tag}> element")
        self.inline.extend(
            f"{name}= on <{tag}>" for name in attributes if name == "style" or name.startswith("on")
        )

    def test_ids(self) -> list[str]:
        return [attributes["data-testid"] or "" for _, attributes in self.tags if "data-testid" in attributes]

    def tag_with(self, tag: str, test_id: str) -> bool:
        return any(name == tag and attributes.get("data-testid") == test_id for name, attributes in self.tags)


def parse(html: str) -> Markup:
    markup = Markup()
    markup.feed(html)
    return markup


@pytest.fixture
def models_dir(app, tmp_path) -> Path:
    """An empty models directory the Models page reads its report and plots from."""
    directory = tmp_path / "models"
    directory.mkdir()
    app.config["MODELS_DIR"] = str(directory)
    return directory


def write_report(directory: Path, report: object) -> None:
    (directory / "report.json").write_text(json.dumps(report), encoding="utf-8")


@pytest.mark.parametrize(("path", "title"), PAGES.items())
def test_every_page_is_html_with_its_heading_and_marks_itself_in_the_menu(client, path, title) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert f"<h1>{title}</h1>" in html
    assert re.search(rf'<a href="{re.escape(path)}" aria-current="page">', html)


@pytest.mark.parametrize("path", PAGES)
def test_pages_have_no_inline_script_style_or_event_handlers(client, path) -> None:
    assert parse(client.get(path).get_data(as_text=True)).inline == []


def test_draw_page_has_every_contract_hook(client) -> None:
    markup = parse(client.get("/").get_data(as_text=True))

    assert set(DRAW_HOOKS) <= set(markup.test_ids())
    assert markup.tag_with("canvas", "canvas")
    assert markup.tag_with("select", "correct-digit")
    assert markup.tag_with("img", "input-preview")
    assert markup.tag_with("button", "undo")
    assert markup.tag_with("select", "pen-size")


def test_consent_is_not_ticked_in_the_page_as_served(client) -> None:
    markup = parse(client.get("/").get_data(as_text=True))

    consent = [attributes for tag, attributes in markup.tags if attributes.get("data-testid") == "consent"]
    assert consent == [{"type": "checkbox", "data-testid": "consent"}]


@pytest.mark.parametrize("path", ["/no-such-page", "/collect/extra", "/models/files/missing.png"])
def test_a_browser_asking_for_an_unknown_page_gets_an_html_404_in_the_layout(client, path) -> None:
    response = client.get(path, headers={"Accept": BROWSER_ACCEPT})

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    markup = parse(html)
    assert ("a", {"href": "/", "class": "button button--primary"}) in markup.tags
    assert '<nav class="site-nav"' in html  # the site's header and menu
    assert markup.inline == []
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/api/no-such-route", BROWSER_ACCEPT),
        ("/api/no-such-route", "application/json"),
        ("/no-such-page", "application/json"),
        ("/no-such-page", "*/*"),
    ],
)
def test_the_api_and_scripts_get_the_json_404(client, path, accept) -> None:
    response = client.get(path, headers={"Accept": accept})

    assert response.status_code == 404
    assert response.json == {"error": "There is nothing at this address."}


def test_the_404_page_shows_the_address_escaped(client) -> None:
    html = client.get("/<script>x</script>", headers={"Accept": BROWSER_ACCEPT}).get_data(as_text=True)

    assert "<script>x" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html


def test_collect_page_has_its_hooks_and_a_digit_picker_with_ten_digits(client) -> None:
    html = client.get("/collect").get_data(as_text=True)
    markup = parse(html)

    assert set(COLLECT_HOOKS) <= set(markup.test_ids())
    assert markup.tag_with("select", "collect-digit")
    assert [attributes["value"] for tag, attributes in markup.tags if tag == "option"] == [
        str(d) for d in range(10)
    ]


@pytest.mark.parametrize("path", PAGES)
def test_every_script_and_stylesheet_a_page_loads_is_served(client, path) -> None:
    markup = parse(client.get(path).get_data(as_text=True))
    assets = [
        attributes.get("src") or attributes.get("href")
        for tag, attributes in markup.tags
        if tag in ("script", "link")
    ]

    assert assets
    for url in assets:
        assert client.get(url).status_code == 200, url


def test_every_module_a_script_imports_exists(client) -> None:
    scripts = sorted((Path(__file__).parent.parent / "static" / "js").glob("*.js"))
    imported = {name for script in scripts for name in IMPORT.findall(script.read_text(encoding="utf-8"))}

    assert imported >= {"api.js", "canvas.js", "dom.js"}
    for name in imported:
        assert client.get(f"/static/js/{name}").status_code == 200, name


def test_models_page_without_a_report_says_how_to_make_one(client, models_dir) -> None:
    html = client.get("/models").get_data(as_text=True)

    assert "No training report yet" in html
    assert "python -m digitrec train" in html


def test_models_page_shows_the_report_scores_sizes_and_plots(client, models_dir) -> None:
    write_report(
        models_dir,
        {
            "fnn": {
                "test_accuracy": 0.9712,
                "validation_accuracy": 0.98,
                "hyperparameters": {"hidden": 100, "l2": 0.001},
            },
            "cnn": {"test_accuracy": 0.9912, "hyperparameters": {"optimizer": "adam", "batch_size": 64}},
            "plots": ["fnn_curves.png", "cnn_confusion.png", "canvas_styles.png", "missing.png", "../app.py"],
            "training_seconds": 125.4,
        },
    )
    for name in ("fnn_curves.png", "cnn_confusion.png", "canvas_styles.png"):
        (models_dir / name).write_bytes(PNG)

    html = client.get("/models").get_data(as_text=True)

    assert "97.1%" in html and "99.1%" in html  # the test-split scores
    assert "784–100–10" in html and "78,500" in html and "79,510" in html  # layer sizes from hidden = 100
    assert "Offline training uses Adam" in html
    assert "offline training took 2 min 5 s" in html
    for name, caption in [
        ("fnn_curves.png", "FNN training curves"),
        ("cnn_confusion.png", "CNN confusion matrix"),
    ]:
        assert f'src="/models/files/{name}" alt="{caption}"' in html
    assert "/models/files/canvas_styles.png" in html
    assert "missing.png" not in html and "app.py" not in html


def test_plot_files_are_served_and_nothing_else(client, models_dir) -> None:
    (models_dir / "fnn_curves.png").write_bytes(PNG)
    write_report(models_dir, {})

    served = client.get("/models/files/fnn_curves.png")

    assert served.status_code == 200
    assert served.mimetype == "image/png"
    assert served.data == PNG
    for name in ("report.json", "missing.png", "FNN.PNG", "..%2Freport.json", ".png"):
        assert client.get(f"/models/files/{name}").status_code == 404, name


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '"text"'])
def test_an_unreadable_report_counts_as_none(tmp_path, content) -> None:
    (tmp_path / "report.json").write_text(content, encoding="utf-8")

    assert read_report(tmp_path) == {}
    assert summarise_report(read_report(tmp_path), tmp_path).found is False


def test_odd_report_values_are_skipped_not_fatal(tmp_path) -> None:
    report = {
        "fnn": {"test_accuracy": "high", "hyperparameters": {"hidden": True}},
        "cnn": [],
        "plots": "all",
    }

    summary = summarise_report(report, tmp_path)

    assert summary.models["fnn"].test_accuracy is None
    assert summary.models["fnn"].hidden is None
    assert summary.models["cnn"].accuracies == []
    assert summary.other_plots == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0001, "0.0001"),
        (True, "yes"),
        (None, "—"),
        ([1, 2], "1, 2"),
        ({"a": 1.5}, "a 1.5"),
        ("adam", "adam"),
    ],
)
def test_hyperparameters_read_as_a_person_writes_them(value, text) -> None:
    assert format_value(value) == text
