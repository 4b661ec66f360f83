// The drawing pad: a 280x280 (CSS px) white canvas drawn on with pointer events (mouse, finger, pen).

import { canEncodeGray, grayPNGDataURL } from "./png.js";

export const SIZE = 280; // logical side of the pad; exported PNGs are SIZE x SIZE
const PEN = 14; // pen width in logical px (the original: 8 px on a 200 px canvas)
const SVG = "http://www.w3.org/2000/svg";

export class DrawingPad {
  #canvas;
  #context;
  #pointerId = null;
  #last = null;
  #onInk;
  #onChange;

  /** onInk() is called whenever a new stroke starts; onChange({ done }) as a stroke grows and when it ends. */
  constructor(canvas, { onInk = () => {}, onChange = () => {} } = {}) {
    this.#canvas = canvas;
    this.#onInk = onInk;
    this.#onChange = onChange;
    this.hasInk = false;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(SIZE * ratio);
    canvas.height = Math.round(SIZE * ratio);
    this.#context = canvas.getContext("2d");
    this.#context.scale(canvas.width / SIZE, canvas.height / SIZE);
    this.clear();

    canvas.addEventListener("pointerdown", (event) => this.#start(event));
    canvas.addEventListener("pointermove", (event) => this.#move(event));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      canvas.addEventListener(type, (event) => this.#end(event));
    }
    canvas.addEventListener("contextmenu", (event) => event.preventDefault());
  }

  clear() {
    const context = this.#context;
    context.fillStyle = "#fff";
    context.fillRect(0, 0, SIZE, SIZE);
    context.strokeStyle = context.fillStyle = "#000";
    context.lineWidth = PEN;
    context.lineCap = context.lineJoin = "round";
    this.hasInk = false;
  }

  /** The drawing as a SIZE x SIZE PNG data URL (8-bit gray where the browser can), whatever the screen's pixel ratio. */
  async toDataURL() {
    let canvas = this.#canvas;
    if (canvas.width !== SIZE) {
      canvas = document.createElement("canvas");
      canvas.width = canvas.height = SIZE;
      const context = canvas.getContext("2d");
      context.imageSmoothingQuality = "high";
      context.drawImage(this.#canvas, 0, 0, SIZE, SIZE);
    }
    if (!canEncodeGray) return canvas.toDataURL("image/png");
    return grayPNGDataURL(canvas.getContext("2d").getImageData(0, 0, SIZE, SIZE));
  }

  #start(event) {
    if (this.#pointerId !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    this.#canvas.setPointerCapture(event.pointerId);
    this.#pointerId = event.pointerId;
    this.#last = this.#point(event);
    this.#context.beginPath();
    this.#context.arc(this.#last.x, this.#last.y, PEN / 2, 0, 2 * Math.PI);
    this.#context.fill();
    this.hasInk = true;
    this.#onInk();
    this.#onChange({ done: false });
  }

  #move(event) {
    if (event.pointerId !== this.#pointerId) return;
    const events = event.getCoalescedEvents?.() ?? [];
    const context = this.#context;
    context.beginPath();
    context.moveTo(this.#last.x, this.#last.y);
    for (const each of events.length ? events : [event]) {
      this.#last = this.#point(each);
      context.lineTo(this.#last.x, this.#last.y);
    }
    context.stroke();
    this.#onChange({ done: false });
  }

  #end(event) {
    if (event.pointerId !== this.#pointerId) return;
    if (this.#canvas.hasPointerCapture(event.pointerId)) {
      this.#canvas.releasePointerCapture(event.pointerId);
    }
    this.#pointerId = null;
    this.#last = null;
    this.#onChange({ done: true });
  }

  /** Pointer position in logical pad px; the canvas may be shown smaller than SIZE on a phone. */
  #point(event) {
    const rect = this.#canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) * SIZE) / rect.width,
      y: ((event.clientY - rect.top) * SIZE) / rect.height,
    };
  }
}

/** Outline each found digit on the pad's SVG overlay: digits = [{box: [x0, y0, x1, y1] in pad px, label, selected}]. */
export function drawBoxes(svg, digits) {
  const shapes = digits.flatMap(({ box, label, selected = false }) => {
    const [x0, y0, x1, y1] = box;
    const rect = svgNode("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, rx: 4, class: selected ? "box box--selected" : "box" });
    const text = svgNode("text", { x: x0 + 4, y: Math.max(y0 - 6, 14), class: "box__label" });
    text.textContent = label;
    return [rect, text];
  });
  svg.replaceChildren(...shapes);
}

function svgNode(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}
