// The drawing pad: a 280x280 (CSS px) white canvas drawn on with pointer events (mouse, finger, pen).

import { canEncodeGray, grayPNGDataURL } from "./png.js";

export const SIZE = 280; // logical side of the pad; exported PNGs are SIZE x SIZE
export const PEN_SIZES = { thin: 8, medium: 14, thick: 22 }; // pen widths in logical px (the original: 8 px on 200 px)
const SVG = "http://www.w3.org/2000/svg";

/**
 * A stroke as it was painted: its pen width, the dot where it started and every segment in the order
 * the pointer moves painted them, so a repaint after Undo gives the very same pixels.
 */
class Stroke {
  constructor(width, start) {
    this.width = width;
    this.start = start;
    this.segments = [];
  }
}

export class DrawingPad {
  #canvas;
  #context;
  #pointerId = null;
  #last = null;
  #strokes = [];
  #onInk;
  #onChange;

  /** onInk() is called whenever a new stroke starts; onChange({ done }) as a stroke grows, when it ends and on undo. */
  constructor(canvas, { onInk = () => {}, onChange = () => {}, penWidth = PEN_SIZES.medium } = {}) {
    this.#canvas = canvas;
    this.#onInk = onInk;
    this.#onChange = onChange;
    this.penWidth = penWidth; // the width of the next stroke
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(SIZE * ratio);
    canvas.height = Math.round(SIZE * ratio);
    // the pixels are read back for every prediction: keep them in memory, not on the GPU
    this.#context = canvas.getContext("2d", { willReadFrequently: true });
    this.#context.scale(canvas.width / SIZE, canvas.height / SIZE);
    this.#paper();

    canvas.addEventListener("pointerdown", (event) => this.#start(event));
    canvas.addEventListener("pointermove", (event) => this.#move(event));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      canvas.addEventListener(type, (event) => this.#end(event));
    }
    canvas.addEventListener("contextmenu", (event) => event.preventDefault());
  }

  get hasInk() {
    return this.#strokes.length > 0;
  }

  get strokeCount() {
    return this.#strokes.length;
  }

  clear() {
    this.#strokes = [];
    this.#pointerId = null;
    this.#paper();
  }

  /** Remove the last stroke (a stroke still being drawn is not undone); false when there is none. */
  undo() {
    if (this.#pointerId !== null || this.#strokes.length === 0) return false;
    this.#strokes.pop();
    this.#paper();
    for (const stroke of this.#strokes) {
      this.#dot(stroke);
      for (const segment of stroke.segments) this.#segment(stroke, segment);
    }
    this.#onChange({ done: true });
    return true;
  }

  /** The drawing as a SIZE x SIZE PNG data URL (8-bit gray where the browser can), whatever the screen's pixel ratio. */
  async toDataURL() {
    let canvas = this.#canvas;
    if (canvas.width !== SIZE) {
      canvas = document.createElement("canvas");
      canvas.width = canvas.height = SIZE;
      const context = canvas.getContext("2d", { willReadFrequently: true });
      context.imageSmoothingQuality = "high";
      context.drawImage(this.#canvas, 0, 0, SIZE, SIZE);
    }
    if (!canEncodeGray) return canvas.toDataURL("image/png");
    return grayPNGDataURL(canvas.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, SIZE, SIZE));
  }

  #paper() {
    const context = this.#context;
    context.fillStyle = "#fff";
    context.fillRect(0, 0, SIZE, SIZE);
    context.strokeStyle = context.fillStyle = "#000";
    context.lineCap = context.lineJoin = "round";
  }

  #dot(stroke) {
    const context = this.#context;
    context.beginPath();
    context.arc(stroke.start.x, stroke.start.y, stroke.width / 2, 0, 2 * Math.PI);
    context.fill();
  }

  #segment(stroke, points) {
    const context = this.#context;
    context.lineWidth = stroke.width;
    context.beginPath();
    context.moveTo(points[0].x, points[0].y);
    for (const point of points.slice(1)) context.lineTo(point.x, point.y);
    context.stroke();
  }

  #start(event) {
    if (this.#pointerId !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    this.#canvas.setPointerCapture(event.pointerId);
    this.#pointerId = event.pointerId;
    this.#last = this.#point(event);
    const stroke = new Stroke(this.penWidth, this.#last);
    this.#strokes.push(stroke);
    this.#dot(stroke);
    this.#onInk();
    this.#onChange({ done: false });
  }

  #move(event) {
    if (event.pointerId !== this.#pointerId) return;
    const events = event.getCoalescedEvents?.() ?? [];
    const points = [this.#last];
    for (const each of events.length ? events : [event]) {
      this.#last = this.#point(each);
      points.push(this.#last);
    }
    const stroke = this.#strokes.at(-1);
    stroke.segments.push(points);
    this.#segment(stroke, points);
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
