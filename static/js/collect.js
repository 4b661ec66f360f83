// The collect page: draw, pick the digit, Save (stored without training), and a running count per digit.

import { getJSON, postJSON } from "./api.js";
import { DrawingPad } from "./canvas.js";
import { find, h, setText } from "./dom.js";

const PAGE_SIZE = 200; // the API's largest page
const MAX_PAGES = 50; // counting stops after 10,000 samples: the page then says "at least"

const ui = {
  canvas: find("canvas"),
  clear: find("clear"),
  digit: find("collect-digit"),
  save: find("collect-save"),
  message: find("feedback-message"),
  counts: find("collect-counts"),
  countsNote: find("[data-counts-note]"),
  total: find("[data-counts-total]"),
};

let state = {
  saving: false,
  message: "",
  messageKind: "info",
  counts: null, // [n0, ..., n9] once loaded
  complete: true, // false when counting stopped early
  countsError: "",
  digit: Number(ui.digit.value),
};

const pad = new DrawingPad(ui.canvas, { onInk: () => state.message && update({ message: "" }) });

function update(changes) {
  state = { ...state, ...changes };
  render(state);
}

async function save() {
  if (state.saving) return;
  if (!pad.hasInk) {
    update({ message: "Draw the digit first, then press Save.", messageKind: "error" });
    return;
  }
  const digit = state.digit;
  update({ saving: true, message: "Saving…", messageKind: "info" });
  try {
    await postJSON("/api/samples", { image: await pad.toDataURL(), digit });
    pad.clear();
    const counts = state.counts && state.counts.map((n, index) => (index === digit ? n + 1 : n));
    update({ saving: false, counts, message: `Saved a ${digit}. Draw the next one.`, messageKind: "success" });
  } catch (error) {
    update({ saving: false, message: error.message, messageKind: "error" });
  }
}

/** Count every stored sample per digit by paging through GET /api/samples. */
async function loadCounts() {
  const counts = Array(10).fill(0);
  let cursor = null;
  try {
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (cursor) query.set("cursor", cursor);
      const { samples, next_cursor: next } = await getJSON(`/api/samples?${query}`);
      for (const { digit } of samples) counts[digit] += 1;
      cursor = next;
      if (!cursor) break;
    }
    update({ counts, complete: !cursor });
  } catch (error) {
    update({ countsError: `Could not load the counts: ${error.message}` });
  }
}

function render(state) {
  ui.save.disabled = state.saving;
  ui.digit.value = String(state.digit);
  setText(ui.message, state.message);
  ui.message.dataset.kind = state.messageKind;

  ui.countsNote.hidden = state.counts !== null && !state.countsError;
  setText(ui.countsNote, state.countsError || "Loading the counts…");
  if (state.counts === null) return;
  ui.counts.replaceChildren(
    ...state.counts.map((n, digit) =>
      h(
        "li",
        { "aria-current": digit === state.digit ? "true" : null, "data-digit": digit },
        h(
          "button",
          { type: "button", class: "counts__pick", "data-pick": digit, "aria-pressed": String(digit === state.digit) },
          h("span", { class: "counts__digit" }, String(digit)),
          h("span", { class: "counts__n" }, String(n), h("span", { class: "counts__unit" }, n === 1 ? " sample" : " samples")),
        ),
      ),
    ),
  );
  const total = state.counts.reduce((sum, n) => sum + n, 0);
  setText(ui.total, `${state.complete ? "" : "At least "}${total} sample${total === 1 ? "" : "s"} in the store (collected and corrections).`);
}

ui.clear.addEventListener("click", () => {
  pad.clear();
  update({ message: "" });
});
ui.save.addEventListener("click", save);
ui.digit.addEventListener("change", () => update({ digit: Number(ui.digit.value) }));
ui.counts.addEventListener("click", (event) => {
  const tile = event.target.closest("[data-pick]");
  if (tile) update({ digit: Number(tile.dataset.pick) });
});
document.addEventListener("keydown", (event) => {
  if (event.target.closest?.("input, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
  if (/^[0-9]$/.test(event.key)) {
    update({ digit: Number(event.key) });
  } else if (event.key === "Enter" && !event.target.closest?.("button, select, a")) {
    event.preventDefault();
    save();
  } else if (event.key === "Escape") {
    pad.clear();
    update({ message: "" });
  }
});

render(state);
loadCounts();
