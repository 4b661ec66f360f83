// Tiny helpers for building and updating DOM nodes (no inline styles: the CSP forbids them).

/** h("td", {class: "num"}, "97%") -> <td class="num">97%</td>. Children: strings, nodes, arrays. */
export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value == null) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.flat(Infinity).filter((child) => child != null && child !== false));
  return node;
}

/** The element with data-testid=`id` (or any other selector), failing loudly if the page lacks it. */
export function find(selectorOrTestId, root = document) {
  const selector = /^[a-z-]+$/.test(selectorOrTestId) ? `[data-testid="${selectorOrTestId}"]` : selectorOrTestId;
  const node = root.querySelector(selector);
  if (!node) throw new Error(`Page is missing ${selector}`);
  return node;
}

/** 0.934 -> "93.4%"; tiny values keep one significant figure ("0.02%"). */
export function formatPercent(fraction) {
  const percent = fraction * 100;
  if (percent > 0 && percent < 0.1) return `${percent.toPrecision(1)}%`;
  return `${percent.toFixed(1)}%`;
}

/** Set a node's text only when it changed (keeps screen readers from re-announcing). */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}
