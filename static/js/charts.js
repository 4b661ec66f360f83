// Small SVG charts drawn with attributes only (the CSP forbids inline styles); colours come from CSS classes.

import { formatPercent, h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

/** s("rect", {x: 1}) -> an SVG element; children as in dom.h. */
export function s(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== false && value != null) node.setAttribute(name, String(value));
  }
  node.append(...children.flat(Infinity).filter((child) => child != null && child !== false));
  return node;
}

/**
 * One small histogram over the digits 0-9: `top` is a model's [{digit, probability}] (its top 3);
 * digits not listed are drawn at zero height. `highlight`: mark the best digit as the model's answer.
 * Returns an <svg> 0..100 wide, 0..62 high.
 */
export function digitHistogram(top, { label, highlight = true }) {
  const known = new Map(top.map(({ digit, probability }) => [digit, probability]));
  const best = top.length && highlight ? top[0].digit : null;
  const bars = Array.from({ length: 10 }, (_, digit) => {
    const probability = known.get(digit) ?? 0;
    const height = Math.max(probability * 44, probability > 0 ? 0.8 : 0);
    const x = 2 + digit * 9.6;
    const title = s("title", {}, `${digit}: ${formatPercent(probability)}`);
    return [
      s("rect", { x, y: 4, width: 7.6, height: 44, rx: 1, class: "hist__track" }),
      s("rect", { x, y: 48 - height, width: 7.6, height, rx: 1, class: digit === best ? "hist__bar hist__bar--best" : "hist__bar" }, title),
      s("text", { x: x + 3.8, y: 58, class: digit === best ? "hist__digit hist__digit--best" : "hist__digit" }, String(digit)),
    ];
  });
  return s("svg", { viewBox: "0 0 100 62", class: "hist", role: "img", "aria-label": label }, bars);
}

const CHART_WIDTH = 640; // user units of a line chart on a wide screen
const PAGE_INSET = 64; // px of a phone's width that card padding and page margins take

/**
 * The user-unit width of a line chart: about its width on screen, so that its text (sized in CSS px)
 * is drawn at that size on a phone too instead of being scaled down with the drawing.
 */
function chartWidth() {
  const screen = document.documentElement.clientWidth || CHART_WIDTH;
  return Math.round(Math.min(CHART_WIDTH, Math.max(280, screen - PAGE_INSET)));
}

/**
 * A line chart: series = [{name, className, points: [[x, y], ...]}], y a fraction 0..1 shown in percent.
 * Returns a <figure> with the <svg> and a legend; x values are integers (model versions).
 */
export function lineChart(series, { xLabel, yLabel, yMin = null }) {
  const width = chartWidth();
  const height = Math.round(Math.max(200, width * 0.4 + 4));
  const margin = { top: 12, right: 16, bottom: 36, left: 52 };
  const all = series.flatMap(({ points }) => points);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  const floor = yMin ?? Math.max(0, Math.floor((Math.min(...ys) - 0.01) * 50) / 50);
  const top = Math.min(1, Math.ceil((Math.max(...ys) + 0.005) * 100) / 100);
  const y1 = Math.max(top, floor + 0.02);
  const px = (x) => margin.left + ((x - x0) / (x1 - x0)) * (width - margin.left - margin.right);
  const py = (y) => margin.top + ((y1 - y) / (y1 - floor)) * (height - margin.top - margin.bottom);

  const yTicks = ticks(floor, y1, 5);
  const xTicks = ticks(x0, x1, Math.min(Math.floor(width / 60), x1 - x0)).filter((x) => Number.isInteger(x));
  const grid = [
    ...yTicks.map((y) => [
      s("line", { x1: margin.left, x2: width - margin.right, y1: py(y), y2: py(y), class: "chart__grid" }),
      s("text", { x: margin.left - 8, y: py(y) + 4, class: "chart__tick chart__tick--y" }, formatPercent(y)),
    ]),
    ...xTicks.map((x) => s("text", { x: px(x), y: height - margin.bottom + 18, class: "chart__tick chart__tick--x" }, String(x))),
    s("text", { x: (margin.left + width - margin.right) / 2, y: height - 4, class: "chart__axis-label" }, xLabel),
  ];
  const lines = series.map(({ name, className, points }) => {
    const path = points.map(([x, y], index) => `${index ? "L" : "M"}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join("");
    const dots = points.map(([x, y]) =>
      s("circle", { cx: px(x), cy: py(y), r: 3.5, class: "chart__dot" }, s("title", {}, `${name}, version ${x}: ${formatPercent(y)}`)),
    );
    return s("g", { class: `chart__series ${className}`, "data-series": name }, s("path", { d: path, class: "chart__line" }), dots);
  });
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart__svg", role: "img", "aria-label": yLabel }, grid, lines);
  const legend = h(
    "ul",
    { class: "chart__legend" },
    series.map(({ name, className }) => h("li", { class: className }, h("span", { class: "chart__swatch", "aria-hidden": "true" }), name)),
  );
  return h("figure", { class: "chart__figure" }, svg, legend);
}

/** About `count` round tick values from lo to hi inclusive. */
function ticks(lo, hi, count) {
  const raw = (hi - lo) / Math.max(count, 1);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((candidate) => candidate >= raw) ?? raw;
  const first = Math.ceil(lo / step - 1e-9) * step;
  const values = [];
  for (let value = first; value <= hi + 1e-9; value += step) values.push(Number(value.toFixed(10)));
  return values;
}
