// The gallery page: collected samples newest first, filtered by digit, paged with the API's cursors;
// a sample opens in a larger view with its details and a download link; behind "Admin", with the
// admin token typed in, each sample can be relabelled (PATCH) or deleted (DELETE).

import { ApiError, getJSON } from "./api.js";
import { find, h, setText } from "./dom.js";

const PAGE_SIZE = 24;

const ui = {
  digit: find("gallery-digit"),
  newer: find("gallery-newer"),
  older: find("gallery-older"),
  page: find("gallery-page"),
  message: find("gallery-message"),
  list: find("gallery-list"),
  token: find("admin-token"),
  adminOpen: find("admin-open"),
  admin: find("[data-admin]"),
  dialog: find("sample-dialog"),
  dialogDigit: find("sample-dialog-digit"),
  dialogImage: find("[data-sample-image]"),
  dialogFacts: {
    digit: find("[data-sample-digit]"),
    source: find("[data-sample-source]"),
    created: find("[data-sample-created]"),
    id: find("[data-sample-id]"),
  },
  download: find("sample-download"),
};
const SOURCES = { feedback: "a correction on the draw page", collect: "the collect page" };

let state = {
  digit: "", // "" = every digit
  cursors: [null], // cursors[i] opens page i; the last entry is the next page's, or null
  page: 0,
  samples: [],
  next: null,
  loading: false,
  busy: new Set(), // sample ids with a change in flight
  token: "",
  adminShown: false,
  message: "",
  messageKind: "info",
};

function update(changes) {
  state = { ...state, ...changes };
  render(state);
}

async function load(page) {
  update({ loading: true, message: "Loading…", messageKind: "info" });
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (state.digit !== "") query.set("digit", state.digit);
  const cursor = state.cursors[page];
  if (cursor) query.set("cursor", cursor);
  try {
    const { samples, next_cursor: next } = await getJSON(`/api/samples?${query}`);
    const cursors = [...state.cursors.slice(0, page + 1), next];
    const message = samples.length ? "" : emptyMessage(state.digit);
    update({ loading: false, page, samples, next, cursors, message });
  } catch (error) {
    update({ loading: false, message: `Could not load the samples: ${error.message}`, messageKind: "error" });
  }
}

function emptyMessage(digit) {
  return digit === "" ? "No samples yet: save some on the collect page." : `No samples of the digit ${digit} yet.`;
}

/** An admin request; resolves to the JSON answer or throws an ApiError with a sentence. */
async function admin(method, url, body) {
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: { Accept: "application/json", "Content-Type": "application/json", Authorization: `Bearer ${state.token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("Could not reach the server. Check your connection and try again.");
  }
  const data = await response.json().catch(() => null);
  if (response.ok && data) return data;
  if (response.status === 401) throw new ApiError("The admin token was not accepted.", 401);
  throw new ApiError(data?.error ?? `The change was refused (${response.status}).`, response.status);
}

async function change(sampleId, work, done) {
  update({ busy: new Set([...state.busy, sampleId]), message: "" });
  try {
    const result = await work();
    const busy = new Set(state.busy);
    busy.delete(sampleId);
    update({ busy, ...done(result) });
  } catch (error) {
    const busy = new Set(state.busy);
    busy.delete(sampleId);
    update({ busy, message: error.message, messageKind: "error" });
  }
}

function relabel(sample, digit) {
  change(
    sample.sample_id,
    () => admin("PATCH", `/api/samples/${encodeURIComponent(sample.sample_id)}`, { digit }),
    (record) => {
      // Under a digit filter a relabelled sample no longer belongs on the page.
      const keep = state.digit === "" || String(record.digit) === state.digit;
      const samples = keep
        ? state.samples.map((s) => (s.sample_id === record.sample_id ? { ...s, ...record } : s))
        : state.samples.filter((s) => s.sample_id !== record.sample_id);
      return { samples, message: `Relabelled as ${record.digit}.`, messageKind: "success" };
    },
  );
}

function remove(sample) {
  if (!window.confirm(`Delete this drawing of a ${sample.digit}? This cannot be undone.`)) return;
  change(
    sample.sample_id,
    () => admin("DELETE", `/api/samples/${encodeURIComponent(sample.sample_id)}`),
    () => ({
      samples: state.samples.filter((s) => s.sample_id !== sample.sample_id),
      message: "Deleted.",
      messageKind: "success",
    }),
  );
}

function formatTime(created) {
  const date = new Date(created);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function imageURL(sample) {
  return `/api/samples/${encodeURIComponent(sample.sample_id)}.png`;
}

function openSample(sample) {
  const { digit, source, created, id } = ui.dialogFacts;
  setText(ui.dialogDigit, String(sample.digit));
  ui.dialogImage.src = imageURL(sample);
  ui.dialogImage.alt = `A drawing labelled ${sample.digit}, enlarged`;
  setText(digit, String(sample.digit));
  setText(source, SOURCES[sample.source] ?? sample.source);
  setText(created, formatTime(sample.created));
  setText(id, sample.sample_id);
  ui.download.href = imageURL(sample);
  ui.download.setAttribute("download", `digit${sample.digit}__${sample.sample_id}.png`);
  ui.dialog.showModal();
}

function sampleCard(sample, { admin: isAdmin, busy }) {
  const picker = h(
    "select",
    { class: "select", "aria-label": "New label", "data-testid": "relabel-digit", disabled: busy },
    Array.from({ length: 10 }, (_, d) => h("option", { value: d, selected: d === sample.digit }, String(d))),
  );
  const save = h("button", { type: "button", class: "button", "data-testid": "relabel", disabled: busy }, "Relabel");
  save.addEventListener("click", () => relabel(sample, Number(picker.value)));
  const del = h("button", { type: "button", class: "button button--danger", "data-testid": "delete", disabled: busy }, "Delete");
  del.addEventListener("click", () => remove(sample));
  const open = h(
    "button",
    { type: "button", class: "sample__open", "data-testid": "sample-open", "aria-label": `Open the drawing of a ${sample.digit}` },
    h("img", { class: "sample__img", src: imageURL(sample), alt: "", loading: "lazy", width: 120, height: 120 }),
  );
  open.addEventListener("click", () => openSample(sample));
  return h(
    "li",
    { class: "sample", "data-sample-id": sample.sample_id, "data-testid": "gallery-sample" },
    open,
    h("span", { class: "sample__digit", "data-testid": "sample-digit" }, String(sample.digit)),
    h("span", { class: "sample__meta" }, `${sample.source} · ${formatTime(sample.created)}`),
    isAdmin ? h("div", { class: "sample__admin" }, picker, save, del) : null,
  );
}

function render(state) {
  ui.digit.value = state.digit;
  ui.newer.disabled = state.loading || state.page === 0;
  ui.older.disabled = state.loading || !state.next;
  setText(ui.page, `Page ${state.page + 1}`);
  setText(ui.message, state.message);
  ui.message.dataset.kind = state.messageKind;
  ui.admin.hidden = !state.adminShown;
  ui.adminOpen.setAttribute("aria-expanded", String(state.adminShown));
  setText(ui.adminOpen, state.adminShown ? "Hide admin" : "Admin");
  const isAdmin = state.adminShown && state.token.trim() !== "";
  ui.list.replaceChildren(
    ...state.samples.map((sample) => sampleCard(sample, { admin: isAdmin, busy: state.busy.has(sample.sample_id) })),
  );
}

ui.digit.addEventListener("change", () => {
  state = { ...state, digit: ui.digit.value, cursors: [null] };
  load(0);
});
ui.newer.addEventListener("click", () => load(state.page - 1));
ui.older.addEventListener("click", () => load(state.page + 1));
ui.token.addEventListener("input", () => update({ token: ui.token.value }));
ui.adminOpen.addEventListener("click", () => {
  update({ adminShown: !state.adminShown });
  if (state.adminShown) ui.token.focus();
});
// a click on the backdrop (outside the dialog's box) closes it too
ui.dialog.addEventListener("click", (event) => {
  if (event.target === ui.dialog) ui.dialog.close();
});

load(0);
