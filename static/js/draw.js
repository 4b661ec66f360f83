// The draw page: live recognition while drawing, Predict, the models' answers, and the feedback flow.
// Every event updates `state`; render(state) alone writes to the page.

import { getJSON, postJSON } from "./api.js";
import { DrawingPad, PEN_SIZES, drawBoxes } from "./canvas.js";
import { digitHistogram } from "./charts.js";
import { find, formatPercent, h, setText } from "./dom.js";

const LIVE_INTERVAL_MS = 350; // while the pen moves: at most one request this often
const STROKE_END_DELAY_MS = 60; // when a stroke ends: answer almost at once
const MODELS = [
  ["fnn_updated", "FNN updated"],
  ["cnn_updated", "CNN updated"],
  ["fnn", "FNN original"],
  ["cnn", "CNN original"],
];
const VOTERS = new Set(["fnn_updated", "cnn_updated"]);
const CONSENT_KEY = "digitrec.consent"; // "yes" once the person ticked the box; absent or "no" otherwise
const PEN_KEY = "digitrec.pen";

const ui = {
  canvas: find("canvas"),
  boxes: find("[data-boxes]"),
  undo: find("undo"),
  clear: find("clear"),
  predict: find("predict"),
  penSize: find("pen-size"),
  live: find("live"),
  results: find("[data-results]"),
  version: find("model-version"),
  placeholder: find("[data-placeholder]"),
  verdict: find("[data-verdict]"),
  answerLabel: find("[data-answer-label]"),
  answer: find("answer"),
  answerNote: find("[data-answer-note]"),
  preview: find("[data-preview]"),
  previewImage: find("input-preview"),
  digitTabs: find("[data-digit-tabs]"),
  chart: find("probability-chart"),
  info: find("[data-info]"),
  showInfo: find("show-info"),
  infoPanel: find("[data-info-panel]"),
  tableBody: find("models-table").tBodies[0],
  feedback: find("[data-feedback]"),
  question: find("[data-question]"),
  consent: find("consent"),
  yes: find("feedback-yes"),
  no: find("feedback-no"),
  notDigit: find("feedback-not-digit"),
  correction: find("[data-correction]"),
  singleCorrection: find("[data-single-correction]"),
  correctDigit: find("correct-digit"),
  multiCorrection: find("[data-multi-correction]"),
  correctDigits: find("correct-digits"),
  multiHint: find("[data-multi-hint]"),
  sameHint: find("same-digit-hint"),
  submit: find("submit-correction"),
  message: find("feedback-message"),
};

const initialState = {
  live: true,
  hasInk: false,
  waiting: false, // a Predict the person asked for is on its way
  result: null, // the last /api/predict answer for this drawing, plus `revision`
  error: "", // a sentence shown instead of an answer
  stale: false, // the drawing changed since `result`
  selected: 0, // the digit (of several) whose models the chart and table show
  showInfo: false,
  feedback: "open", // open | sending | done
  correcting: false, // the "It is a …" picker is shown
  correction: "", // the digit(s) picked or typed in the picker
  message: "",
  messageKind: "info", // info | success | error
  version: null,
};
let state = { ...initialState, live: ui.live.checked };
let revision = 0; // bumped by every change to the drawing
let sent = 0; // bumped by every request and by Clear; only the newest request's answer is shown
let inFlight = false;
let queued = null; // {explicit} when a request must follow the one in flight
let timer = 0; // the scheduled live request, 0 when none

ui.penSize.value = stored(PEN_KEY) in PEN_SIZES ? stored(PEN_KEY) : ui.penSize.value;
ui.consent.checked = stored(CONSENT_KEY) === "yes"; // opt-in: unticked until the person ticks it
const pad = new DrawingPad(ui.canvas, {
  onChange: ({ done }) => drawingChanged(done),
  penWidth: PEN_SIZES[ui.penSize.value],
});

/** A remembered choice, or null where the browser keeps no storage (private modes may throw). */
function stored(key) {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

function remember(key, value) {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    // without storage the choice lasts as long as the page
  }
}

function update(changes) {
  state = { ...state, ...changes };
  render(state);
}

function drawingChanged(strokeDone) {
  revision += 1;
  if (state.hasInk !== pad.hasInk) update({ hasInk: pad.hasInk });
  if (!pad.hasInk) {
    // everything was undone: nothing left to answer about
    unschedule();
    sent += 1;
    queued = null;
    update({ ...initialState, live: state.live, version: state.version, showInfo: state.showInfo });
    return;
  }
  if (state.result && !state.stale) update({ stale: true });
  if (state.error) update({ error: "" });
  if (!state.live) return;
  if (strokeDone) schedule(STROKE_END_DELAY_MS);
  else if (!timer) schedule(LIVE_INTERVAL_MS); // throttled, not debounced: answers follow a long stroke
}

function schedule(delay) {
  unschedule();
  timer = setTimeout(() => {
    timer = 0;
    predict({ explicit: false });
  }, delay);
}

function unschedule() {
  clearTimeout(timer);
  timer = 0;
}

/** Send the drawing; with one request in flight the next one waits, so answers arrive in order. */
async function predict({ explicit }) {
  unschedule();
  if (!explicit && !pad.hasInk) return;
  if (inFlight) {
    queued = { explicit: explicit || Boolean(queued?.explicit) };
    return;
  }
  inFlight = true;
  const request = ++sent;
  const drawn = revision;
  if (explicit) update({ waiting: true });
  try {
    const result = await postJSON("/api/predict", { image: await pad.toDataURL() });
    if (request === sent) showResult(result, drawn, explicit);
  } catch (error) {
    // a live request refused for going too fast is simply retried by the next stroke
    if (request === sent && (explicit || error.status !== 429)) {
      update({ error: error.message, result: null, stale: false, feedback: "open", correcting: false, message: "" });
    }
  } finally {
    inFlight = false;
    if (request === sent && state.waiting) update({ waiting: false });
    const next = queued;
    queued = null;
    if (next) predict(next);
  }
}

function showResult(result, drawn, explicit) {
  const sameDrawing = state.result?.revision === drawn;
  update({
    result: { ...result, revision: drawn },
    error: "",
    stale: drawn !== revision,
    selected: sameDrawing ? state.selected : 0,
    version: result.model_version ?? state.version,
    // an answer to a changed drawing asks for feedback again
    ...(sameDrawing || state.result === null || state.feedback === "sending"
      ? {}
      : { feedback: "open", correcting: false, correction: "", message: "" }),
  });
  // an answer the person asked for: bring its question into view (a small phone, a landscape screen)
  if (explicit) ui.feedback.scrollIntoView({ block: "nearest" });
}

function clear() {
  unschedule();
  sent += 1;
  revision += 1;
  queued = null;
  pad.clear();
  update({ ...initialState, live: state.live, version: state.version, showInfo: state.showInfo });
}

// ---- feedback ------------------------------------------------------------------------------------

function digitCount() {
  return state.result?.digits?.length || 1;
}

/** Yes is only offered for a recognised answer (see renderFeedback). */
function answerYes() {
  teach(state.result.answer);
}

function answerNo() {
  const multi = digitCount() > 1;
  if (multi) ui.correctDigits.value = state.result.answer ?? "";
  update({ correcting: true, message: "", correction: multi ? ui.correctDigits.value : ui.correctDigit.value });
  (multi ? ui.correctDigits : ui.correctDigit).focus();
}

function submitCorrection(event) {
  event.preventDefault();
  const count = digitCount();
  if (count === 1) {
    teach(ui.correctDigit.value);
    return;
  }
  const digits = ui.correctDigits.value.replace(/\s+/g, "");
  if (!/^[0-9]+$/.test(digits) || digits.length !== count) {
    say(`Please type ${count} digits, one for each box, left to right.`, "error");
    return;
  }
  teach(digits);
}

function notADigit() {
  say("Thanks for telling us! Drawings that are not digits are not stored: the models only learn digits.");
  update({ feedback: "done" });
}

/** Train on `digits` (a string, one digit per box) if the person consented; otherwise say what would have happened. */
async function teach(digits) {
  const what = digits.length > 1 ? `“${digits}”` : `a ${digits}`;
  if (!ui.consent.checked) {
    // the question stays open: ticking the box and answering again still teaches the models
    say(
      `Nothing was sent. With your permission (the box above), your drawing would have been stored as ${what} ` +
        "and the models would have learned from it right away.",
    );
    return;
  }
  update({ feedback: "sending", message: "Teaching the models…", messageKind: "info" });
  try {
    const body = { image: await pad.toDataURL(), digit: digits.length > 1 ? digits : Number(digits) };
    const reply = await postJSON("/api/feedback", body);
    const text = reply.accepted
      ? `Thank you! The models learned that this is ${what}. They are now version ${reply.model_version}.`
      : `Thank you! Your drawing is stored as ${what}, but a safety check held this lesson back, ` +
        `so the models stay at version ${reply.model_version}.`;
    update({ feedback: "done", correcting: false, version: reply.model_version, message: text, messageKind: "success" });
  } catch (error) {
    update({ feedback: "open", message: error.message, messageKind: "error" });
  }
}

function say(message, kind = "info") {
  update({ message, messageKind: kind });
}

// ---- render --------------------------------------------------------------------------------------

function render(state) {
  const { result, error } = state;
  const answered = result !== null || error !== "";
  const digits = result?.digits?.length ? result.digits : result ? [result] : [];
  const shown = digits[Math.min(state.selected, digits.length - 1)] ?? null;

  ui.live.checked = state.live;
  ui.predict.disabled = state.waiting || !state.hasInk;
  ui.undo.disabled = !state.hasInk;
  setText(ui.predict, state.waiting ? "Predicting…" : "Predict");
  ui.results.setAttribute("aria-busy", String(state.waiting));
  setText(ui.version, state.version === null ? "Model version …" : `Model version ${state.version}`);

  ui.placeholder.hidden = answered;
  setText(
    ui.placeholder,
    `Draw one digit, large and in the middle — or several side by side. ${
      state.live ? "The answer appears as you draw." : "Then press Predict."
    }`,
  );
  ui.verdict.hidden = !answered;
  ui.verdict.classList.toggle("verdict--stale", state.stale);
  setText(ui.answerLabel, error ? "Sorry" : state.stale ? "The models said (drawing changed)" : "The models say");
  const unreadable = result !== null && result.answer === null;
  setText(ui.answer, error || (unreadable ? result.message : (result?.answer ?? "")));
  ui.answer.classList.toggle("answer--message", Boolean(error) || unreadable);
  setText(ui.answerNote, result && !unreadable ? (result.message ?? "") : "");
  renderPreview(error ? "" : (result?.input_preview ?? ""));

  renderBoxes(result, state);
  renderTabs(error ? [] : digits, state.selected);
  ui.info.hidden = shown === null;
  if (shown !== null) {
    renderChart(shown.models, shown.answer === null);
    renderTable(shown.models);
  }
  ui.showInfo.setAttribute("aria-expanded", String(state.showInfo));
  setText(ui.showInfo, state.showInfo ? "Hide details" : "Show details");
  ui.infoPanel.hidden = !state.showInfo;

  renderFeedback(state, digits.length, unreadable);
}

function renderPreview(source) {
  ui.preview.hidden = !source;
  if (source && ui.previewImage.getAttribute("src") !== source) ui.previewImage.src = source;
}

function renderBoxes(result, state) {
  const boxes = (result?.digits ?? []).filter((digit) => Array.isArray(digit.box));
  drawBoxes(
    ui.boxes,
    boxes.map((digit, index) => ({ box: digit.box, label: digit.answer ?? "?", selected: boxes.length > 1 && index === state.selected })),
  );
  ui.boxes.classList.toggle("pad__boxes--stale", state.stale);
}

let tabsFor = null;
function renderTabs(digits, selected) {
  ui.digitTabs.hidden = digits.length < 2;
  if (tabsFor !== digits) {
    tabsFor = digits;
    ui.digitTabs.replaceChildren(
      ...digits.map((digit, index) =>
        h("button", { type: "button", class: "digit-tab", "data-index": index }, `Digit ${index + 1}: ${digit.answer ?? "?"}`),
      ),
    );
  }
  [...ui.digitTabs.children].forEach((tab, index) => tab.setAttribute("aria-pressed", String(index === selected)));
}

let chartFor = null;
/** One histogram per model; `overruled`: the answer rule found no digit, so no guess is shown as the answer. */
function renderChart(models, overruled) {
  if (chartFor === models) return;
  chartFor = models;
  ui.chart.replaceChildren(
    ...MODELS.map(([key, name]) => {
      const top = models?.[key] ?? [];
      const best = top[0];
      return h(
        "figure",
        { class: VOTERS.has(key) ? "bars__model bars__model--voter" : "bars__model" },
        h(
          "figcaption",
          {},
          h("span", { class: "bars__name" }, name),
          best
            ? h("span", { class: "bars__best" }, `${overruled ? "guess " : ""}${best.digit} · ${formatPercent(best.probability)}`)
            : null,
        ),
        digitHistogram(top, {
          label: `${name}: ${top.map(({ digit, probability }) => `${digit} ${formatPercent(probability)}`).join(", ")}`,
          highlight: !overruled,
        }),
      );
    }),
  );
}

let tableFor = null;
function renderTable(models) {
  if (tableFor === models) return;
  tableFor = models;
  ui.tableBody.replaceChildren(
    ...MODELS.map(([key, name]) =>
      h(
        "tr",
        { class: VOTERS.has(key) ? "models-table__voter" : null, "data-model": key },
        h("th", { scope: "row" }, name, VOTERS.has(key) ? h("span", { class: "tag" }, "votes") : null),
        ...[0, 1, 2].map((rank) => {
          const guess = models?.[key]?.[rank];
          return h("td", {}, guess ? [h("strong", {}, String(guess.digit)), ` ${formatPercent(guess.probability)}`] : "—");
        }),
      ),
    ),
  );
}

function renderFeedback(state, count, unreadable) {
  const { feedback } = state;
  ui.feedback.hidden = state.result === null;
  const locked = feedback === "sending" || feedback === "done" || state.stale;
  for (const button of [ui.yes, ui.no, ui.notDigit]) button.disabled = locked;
  // "Can't recognize": a plain Yes would be ambiguous, so the two answers say what they mean
  setText(ui.question, unreadable ? "Is it really not a digit?" : "Is it correct?");
  ui.yes.hidden = unreadable;
  setText(ui.no, unreadable ? "It is a digit" : "No");
  setText(ui.notDigit, unreadable ? "Right, it's not a digit" : "It's not a digit");
  const answer = state.result?.answer ?? null;
  const same = state.correcting && answer !== null && state.correction === answer;
  ui.sameHint.hidden = !same;
  setText(
    ui.sameHint,
    !same ? "" : count > 1 ? "That is what the models said: change the digits that are wrong." : `The models said ${answer} too. If ${answer} is right, answer Yes.`,
  );
  ui.consent.disabled = feedback === "sending" || feedback === "done";
  ui.no.setAttribute("aria-expanded", String(state.correcting));
  ui.correction.hidden = !state.correcting;
  ui.submit.disabled = locked;
  ui.singleCorrection.hidden = count > 1;
  ui.multiCorrection.hidden = count <= 1;
  ui.multiHint.hidden = count <= 1;
  setText(ui.multiHint, count > 1 ? `One digit for each of the ${count} boxes, left to right.` : "");
  setText(ui.message, state.message);
  ui.message.dataset.kind = state.messageKind;
}

// ---- events --------------------------------------------------------------------------------------

ui.clear.addEventListener("click", clear);
ui.undo.addEventListener("click", () => pad.undo());
ui.penSize.addEventListener("change", () => {
  pad.penWidth = PEN_SIZES[ui.penSize.value];
  remember(PEN_KEY, ui.penSize.value);
});
ui.consent.addEventListener("change", () => remember(CONSENT_KEY, ui.consent.checked ? "yes" : "no"));
ui.correctDigit.addEventListener("change", () => update({ correction: ui.correctDigit.value }));
ui.correctDigits.addEventListener("input", () => update({ correction: ui.correctDigits.value.replace(/\s+/g, "") }));
ui.predict.addEventListener("click", () => predict({ explicit: true }));
ui.live.addEventListener("change", () => {
  update({ live: ui.live.checked });
  if (state.live && pad.hasInk && (state.stale || state.result === null)) schedule(0);
});
ui.showInfo.addEventListener("click", () => update({ showInfo: !state.showInfo }));
ui.digitTabs.addEventListener("click", (event) => {
  const tab = event.target.closest("[data-index]");
  if (tab) update({ selected: Number(tab.dataset.index) });
});
ui.yes.addEventListener("click", answerYes);
ui.no.addEventListener("click", answerNo);
ui.notDigit.addEventListener("click", notADigit);
ui.correction.addEventListener("submit", submitCorrection);
document.addEventListener("keydown", (event) => {
  // a text field keeps its own Ctrl+Z; a field or a picker keeps its own Esc
  if (event.target.closest?.("input[type=text], textarea")) return;
  if (event.key === "Escape" && !event.target.closest?.("input, select")) clear();
  const undoKeys = (event.ctrlKey || event.metaKey) && !event.shiftKey && !event.altKey && event.key.toLowerCase() === "z";
  if (undoKeys) {
    event.preventDefault();
    pad.undo();
  }
});

render(state);
getJSON("/healthz")
  .then((health) => {
    if (state.version === null && Number.isInteger(health.model_version)) update({ version: health.model_version });
  })
  // without it the badge waits for the first answer, which carries the version too
  .catch(() => {});
