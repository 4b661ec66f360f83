// The Models page's online-learning section: the version badge, the accuracy of the updated models after
// every version (a line chart) and a table of the updates, all from GET /api/models, a page of versions
// at a time (newest first): "Load more" fetches the next page and adds it to the chart and the table.

import { getJSON } from "./api.js";
import { lineChart } from "./charts.js";
import { find, formatPercent, h, setText } from "./dom.js";

const HISTORY_PAGE = 50;
const SERIES = [
  ["fnn_updated", "FNN updated", "series--fnn"],
  ["cnn_updated", "CNN updated", "series--cnn"],
];

const ui = {
  version: find("model-version"),
  chart: find("history-chart"),
  message: find("[data-history-message]"),
  tableWrap: find("[data-history-wrap]"),
  tableBody: find("history-table").tBodies[0],
  latest: Object.fromEntries(SERIES.map(([key]) => [key, find(`[data-latest="${key}"]`)])),
  latestNotes: [...document.querySelectorAll("[data-latest-note]")],
  more: h("button", { type: "button", class: "button", "data-testid": "history-more", hidden: true }, "Load more"),
};
ui.tableWrap.after(ui.more);

// Every page loaded so far, merged: the first page's version, latest and originals, all pages' records.
const loaded = { history: [], refused: [], next_cursor: null };

/**
 * The API answer as rows, newest first: published versions and refused updates.
 * Each row: {version|null, created, digits: string, result: "learned"|"refused"|"reset"|"rolled back", accuracy|null}.
 */
export function historyRows({ history = [], refused = [] }) {
  const published = history.map((record) => ({
    version: record.version,
    created: record.created,
    digits: digitsOf(record),
    result: { reset: "reset", rollback: `rolled back to v${record.to}` }[record.event] ?? "learned",
    accuracy: record.accuracy ?? null,
  }));
  const held = refused.map((event) => ({
    version: null,
    created: event.created,
    digits: digitsOf(event),
    result: "refused",
    accuracy: event.accuracy ?? null,
  }));
  return [...published, ...held].sort((a, b) => String(b.created).localeCompare(String(a.created)));
}

/** Accuracy per version for the chart: version 0 is the originals, then every version that measured it. */
export function accuracySeries({ originals, history = [] }) {
  return SERIES.map(([key, name, className]) => {
    const points = history
      .filter((record) => typeof record.accuracy?.[key] === "number")
      .map((record) => [record.version, record.accuracy[key]]);
    if (typeof originals?.[key] === "number") points.unshift([0, originals[key]]);
    return { name, className, points };
  });
}

function digitsOf(record) {
  if (Array.isArray(record.digits)) return record.digits.join("");
  return Number.isInteger(record.digit) ? String(record.digit) : "";
}

function formatTime(created) {
  const date = new Date(created);
  if (Number.isNaN(date.getTime())) return String(created ?? "");
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function render(models) {
  setText(ui.version, `Version ${models.version}`);
  const rows = historyRows(models);
  const series = accuracySeries(models).filter(({ points }) => points.length > 0);

  const latest = models.history.find((record) => record.accuracy);
  for (const [key] of SERIES) {
    const value = latest?.accuracy?.[key] ?? models.originals?.[key];
    setText(ui.latest[key], typeof value === "number" ? formatPercent(value) : "—");
  }
  for (const note of ui.latestNotes) {
    setText(note, latest ? `canary digits, version ${latest.version}` : "canary digits, no update yet");
  }

  ui.chart.replaceChildren(
    series.some(({ points }) => points.length > 1)
      ? lineChart(series, { xLabel: "Model version", yLabel: "Accuracy of the updated models on the canary digits, per version" })
      : h("p", { class: "hint" }, "The chart appears after the first correction."),
  );

  ui.tableWrap.hidden = rows.length === 0;
  ui.more.hidden = !models.next_cursor;
  setText(ui.message, rows.length ? "" : "No corrections yet: the updated models are still the originals.");
  ui.tableBody.replaceChildren(
    ...rows.map((row) =>
      h(
        "tr",
        {},
        h("td", { class: "num" }, row.version === null ? "—" : String(row.version)),
        h("td", {}, formatTime(row.created)),
        h("td", { class: "num" }, row.digits || "—"),
        h("td", { class: row.result === "refused" ? "result--refused" : row.result === "learned" ? "result--accepted" : null }, row.result),
        ...SERIES.map(([key]) =>
          h("td", { class: "num" }, typeof row.accuracy?.[key] === "number" ? formatPercent(row.accuracy[key]) : "—"),
        ),
      ),
    ),
  );
}

/** Fetch the next page of the history (the first when nothing is loaded yet) and show everything loaded. */
async function loadPage() {
  const query = new URLSearchParams({ limit: String(HISTORY_PAGE) });
  if (loaded.next_cursor) query.set("cursor", loaded.next_cursor);
  const page = await getJSON(`/api/models?${query}`);
  if (!loaded.history.length) Object.assign(loaded, { version: page.version, latest: page.latest, originals: page.originals });
  loaded.history.push(...(page.history ?? []));
  loaded.refused.push(...(page.refused ?? []));
  loaded.next_cursor = page.next_cursor ?? null;
  render(loaded);
}

ui.more.addEventListener("click", () => {
  ui.more.disabled = true;
  loadPage()
    .catch((error) => setText(ui.message, `Could not load more of the history: ${error.message}`))
    .finally(() => {
      ui.more.disabled = false;
    });
});

loadPage().catch((error) => {
  setText(ui.version, "Version ?");
  setText(ui.message, `Could not load the history: ${error.message}`);
});
