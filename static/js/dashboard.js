// The Models page's learning dashboard: what people taught the models, from GET /api/models —
// feedback and corrections per digit (a bar chart), predicted vs corrected digit (a confusion matrix)
// and how many updates the safety check refused, over the newest 1,000 versions.

import { getJSON } from "./api.js";
import { s } from "./charts.js";
import { find, h, setText } from "./dom.js";

const DIGITS = Array.from({ length: 10 }, (_, d) => d);
const UNKNOWN = 10; // matrix row of drawings the models did not recognise
const HEAT_LEVELS = 4;

const ui = {
  chart: find("corrections-chart"),
  matrix: find("confusion-matrix"),
  refused: find("refused-summary"),
  message: find("[data-dashboard-message]"),
};

/**
 * Every taught digit, from published versions and refused updates alike:
 * [{digit, predicted (0-9 or null when not recognised or not recorded), refused}].
 */
export function taughtDigits({ history = [], refused = [] }) {
  const entries = [
    ...history.map((record) => [record, false]),
    ...refused.map((event) => [event, true]),
  ];
  return entries.flatMap(([record, wasRefused]) => {
    const digits = Array.isArray(record.digits) ? record.digits : Number.isInteger(record.digit) ? [record.digit] : [];
    const predicted = Array.isArray(record.predicted) ? record.predicted : [];
    return digits.map((digit, i) => ({
      digit,
      predicted: Number.isInteger(predicted[i]) ? predicted[i] : null,
      refused: wasRefused,
    }));
  });
}

/** {feedback: [n per digit], corrections: [n per digit], matrix: 11 rows (predicted 0-9, unknown) x 10 (true)}. */
export function tally(taught) {
  const feedback = DIGITS.map(() => 0);
  const corrections = DIGITS.map(() => 0);
  const matrix = Array.from({ length: 11 }, () => DIGITS.map(() => 0));
  for (const { digit, predicted } of taught) {
    if (!Number.isInteger(digit) || digit < 0 || digit > 9) continue;
    feedback[digit] += 1;
    if (predicted !== digit) corrections[digit] += 1;
    matrix[predicted === null ? UNKNOWN : predicted][digit] += 1;
  }
  return { feedback, corrections, matrix };
}

function barChart({ feedback, corrections }) {
  const width = 320;
  const height = 170;
  const base = 140;
  const most = Math.max(1, ...feedback);
  const bars = DIGITS.map((digit) => {
    const x = 12 + digit * 30;
    const all = (feedback[digit] / most) * 120;
    const wrong = (corrections[digit] / most) * 120;
    const label = `${digit}: ${feedback[digit]} taught, ${corrections[digit]} of them corrections`;
    return s(
      "g",
      { "data-digit": digit },
      s("title", {}, label),
      s("rect", { x, y: base - all, width: 22, height: all, rx: 2, class: "taught__all" }),
      s("rect", { x, y: base - wrong, width: 22, height: wrong, rx: 2, class: "taught__corrected" }),
      s("text", { x: x + 11, y: base - all - 4, class: "taught__count" }, feedback[digit] ? String(feedback[digit]) : ""),
      s("text", { x: x + 11, y: base + 16, class: "taught__digit" }, String(digit)),
    );
  });
  return h(
    "figure",
    { class: "taught" },
    s("svg", { viewBox: `0 0 ${width} ${height}`, class: "taught__svg", role: "img", "aria-label": "Digits taught per digit" }, bars),
    h(
      "figcaption",
      { class: "chart__legend" },
      h("span", { class: "taught__key taught__key--all" }, "taught (Yes and No)"),
      h("span", { class: "taught__key taught__key--corrected" }, "corrections (the models were wrong)"),
    ),
  );
}

function heat(count, most) {
  return count === 0 ? 0 : 1 + Math.min(HEAT_LEVELS - 1, Math.floor(((count - 1) / Math.max(1, most)) * HEAT_LEVELS));
}

function confusionTable({ matrix }) {
  const offDiagonal = matrix.flatMap((row, p) => row.filter((_, t) => p !== t));
  const most = Math.max(1, ...offDiagonal);
  const rows = matrix.map((row, predicted) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, predicted === UNKNOWN ? "none" : String(predicted)),
      row.map((count, digit) =>
        h(
          "td",
          {
            class: predicted === digit ? "confusion__cell confusion__cell--agree" : `confusion__cell heat-${heat(count, most)}`,
            "data-predicted": predicted === UNKNOWN ? "none" : predicted,
            "data-digit": digit,
            title: `${count} × answered ${predicted === UNKNOWN ? "not a digit" : predicted}, was ${digit}`,
          },
          count ? String(count) : "",
        ),
      ),
    ),
  );
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "table confusion" },
      h("caption", {}, "Rows: what the models answered. Columns: the digit the person said it was."),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Answer"), DIGITS.map((d) => h("th", { scope: "col" }, String(d))))),
      h("tbody", {}, rows),
    ),
  );
}

function refusedSentence(taught, refusedCount) {
  if (!taught.length) return "No feedback yet.";
  const updates = refusedCount === 1 ? "1 update was" : `${refusedCount} updates were`;
  return `${updates} refused by the safety check (the canary accuracy would have dropped too far).`;
}

function render(models) {
  const taught = taughtDigits(models);
  const counts = tally(taught);
  ui.chart.replaceChildren(barChart(counts));
  ui.matrix.replaceChildren(confusionTable(counts));
  setText(ui.refused, refusedSentence(taught, (models.refused ?? []).length));
  setText(ui.message, taught.length ? "" : "Nothing taught yet: the charts fill in as people answer Yes or No on the draw page.");
}

const PAGE = 200; // GET /api/models' largest page
const MOST_VERSIONS = 1000; // the dashboard tallies the newest updates only, so its cost stays bounded

/** The newest MOST_VERSIONS versions' records and the refused updates among them, page by page. */
async function recentModels() {
  const all = { history: [], refused: [] };
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) query.set("cursor", cursor);
    const page = await getJSON(`/api/models?${query}`);
    all.history.push(...(page.history ?? []));
    all.refused.push(...(page.refused ?? []));
    cursor = page.next_cursor;
  } while (cursor && all.history.length < MOST_VERSIONS);
  return all;
}

recentModels()
  .then(render)
  .catch((error) => setText(ui.message, `Could not load the dashboard: ${error.message}`));
