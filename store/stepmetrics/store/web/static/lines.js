// Canvas chart of one list metric of several executions (one line each), drawn
// from server-side buckets (series.js): each bucket draws its min-max range and
// its last value, so spikes stay visible. Drag to zoom into an index range
// (re-read from the server: exact values once the range fits the width),
// double-click or Escape to reset; log scale and EMA smoothing (raw line
// faint) are options. Hover, or the arrow keys, read every line at an index.
// A single line without a label (the Execution page) reads "index i: value".
import { M, clearedOverlay, cursorLine, drawAxes, fitCanvas, padRange, placeTip } from "./plot.js";
import { FINITE, NAN, POS_INF, NEG_INF, bucketAt, bucketRange, describeBucket, isExact, smooth } from "./series.js";

const HEIGHT = 280;

function canvas(parent) {
  const element = document.createElement("canvas");
  element.setAttribute("aria-hidden", "true");
  parent.append(element);
  return element;
}

export class LinesChart {
  // lines: [{ label, style: { colour, dash } }]; load(i, start, end, buckets) -> buckets of line i.
  constructor(container, name, lines, load) {
    Object.assign(this, { name, lines, load, data: lines.map(() => null), view: { start: 0, end: null } });
    this.options = { log: false, smoothing: 0 };
    this.cursor = -1;
    // What the readout calls index i (a page may name its points otherwise).
    this.indexLabel = (i) => `index ${i.toLocaleString("en")}`;
    this.plot = document.createElement("div");
    this.plot.className = "plot plot-tall";
    this.plot.tabIndex = 0;
    this.plot.setAttribute("role", "group");
    this.base = canvas(this.plot);
    this.overlay = canvas(this.plot);
    this.tip = document.createElement("div");
    this.tip.className = "tooltip";
    this.tip.hidden = true;
    this.plot.append(this.tip);
    this.readout = document.createElement("p");
    this.readout.className = "readout";
    this.readout.setAttribute("aria-live", "polite");
    container.append(this.plot, this.readout);
    this.listen();
    new ResizeObserver(() => this.draw()).observe(this.plot);
  }

  listen() {
    const p = this.plot;
    p.addEventListener("mousedown", (e) => { this.dragFrom = this.indexAt(e.clientX); });
    p.addEventListener("mousemove", (e) => this.hover(e));
    p.addEventListener("mouseup", (e) => this.drop(e));
    p.addEventListener("mouseleave", () => { this.dragFrom = undefined; this.show(-1); });
    p.addEventListener("dblclick", () => this.zoom(0, null));
    p.addEventListener("keydown", (e) => this.key(e));
    p.addEventListener("blur", () => this.show(-1));
  }

  plotWidth() {
    return Math.max(120, Math.floor(this.plot.clientWidth)) - M.left - M.right;
  }

  // Re-read every line for the current view (also what a live update calls).
  async refresh() {
    const { start, end } = this.view, buckets = this.plotWidth();
    this.data = await Promise.all(this.lines.map((_, i) => this.load(i, start, end, buckets)));
    this.draw();
  }

  async zoom(start, end) {
    this.view = { start, end };
    await this.refresh();
    this.show(-1);
  }

  setOptions(options) {
    Object.assign(this.options, options);
    this.draw();
  }

  domain() {
    const loaded = this.data.filter(Boolean);
    const start = this.view.start;
    const end = Math.max(start + 1, ...loaded.map((d) => d.end));
    return { start, end };
  }

  yRange() {
    let min = Infinity, max = -Infinity;
    for (const d of this.data) {
      for (let b = 0; d && b < d.count; b++) {
        if (!(d.flags[b] & FINITE)) continue;
        const lo = this.options.log && d.min[b] <= 0 ? (d.max[b] > 0 ? d.max[b] : Infinity) : d.min[b];
        if (lo < min) min = lo;
        if (d.max[b] > max && (!this.options.log || d.max[b] > 0)) max = d.max[b];
      }
    }
    if (!(min <= max)) [min, max] = this.options.log ? [1, 10] : [0, 1];
    return this.options.log ? [Math.log10(min), Math.log10(max)] : [min, max];
  }

  geometry() {
    const width = Math.max(120, Math.floor(this.plot.clientWidth));
    const plotW = width - M.left - M.right, plotH = HEIGHT - M.top - M.bottom;
    const [min, max] = padRange(...this.yRange());
    const { start, end } = this.domain(), last = Math.max(1, end - 1 - start);
    const x = (i) => M.left + ((i - start) / last) * plotW;
    const log = this.options.log;
    const y = (v) => M.top + (1 - ((log ? Math.log10(v) : v) - min) / (max - min)) * plotH;
    return { width, plotW, plotH, min, max, x, y, start, end, log };
  }

  draw() {
    if (!this.data.some(Boolean)) return;
    const started = performance.now();
    const g = (this.g = this.geometry());
    const ctx = fitCanvas(this.base, g.width, HEIGHT);
    fitCanvas(this.overlay, g.width, HEIGHT);
    drawAxes(ctx, g, g.start, g.end - 1, g.log ? (v) => Math.pow(10, v) : undefined);
    ctx.save();
    ctx.beginPath();
    ctx.rect(M.left - 4, M.top - 8, g.plotW + 8, g.plotH + 16);
    ctx.clip();
    this.data.forEach((d, i) => d && this.drawLine(ctx, g, d, this.lines[i].style));
    ctx.restore();
    const exact = this.data.every((d) => !d || isExact(d));
    Object.assign(this.base.dataset, {
      drawMs: (performance.now() - started).toFixed(1), lines: String(this.data.filter(Boolean).length),
      start: String(g.start), end: String(g.end), exact: String(exact), log: String(g.log),
      smoothing: String(this.options.smoothing),
      buckets: this.data.map((d) => (d ? d.count : 0)).join(","),
      points: this.data.map((d) => (d ? d.length : 0)).join(","), // values of each whole list
      nonfinite: this.data.map((d) => (d ? d.nonFinite : 0)).join(","), // NaN and ±inf in the view
    });
    const count = this.lines.length === 1 ? "one line" : `${this.lines.length} executions`;
    this.plot.setAttribute("aria-label", `Line chart of ${this.name}: ${count}, ` +
      `indices ${g.start.toLocaleString("en")} to ${(g.end - 1).toLocaleString("en")}` +
      `${exact ? ", exact values" : ", reduced to buckets (min, max, last)"}${g.log ? ", log scale" : ""}. ` +
      "Arrow keys read values; + zooms in at the cursor, Escape resets the zoom.");
    this.show(this.cursor);
  }

  // The x of bucket b: its index when exact, else the middle of its range.
  bucketX(g, d, b) {
    const [lo, hi] = bucketRange(d, b);
    return g.x(isExact(d) ? lo : (lo + hi - 1) / 2);
  }

  path(ctx, g, d, ys, envelope) {
    ctx.beginPath();
    let open = false;
    for (let b = 0; b < d.count; b++) {
      const v = ys[b], px = this.bucketX(g, d, b);
      if (!(d.flags[b] & FINITE) || v !== v || (g.log && v <= 0)) { open = false; continue; }
      if (envelope && !(g.log && d.min[b] <= 0)) {
        if (open) ctx.lineTo(px, g.y(d.min[b])); else ctx.moveTo(px, g.y(d.min[b]));
        ctx.lineTo(px, g.y(d.max[b]));
        ctx.lineTo(px, g.y(v));
      } else if (open) ctx.lineTo(px, g.y(v));
      else ctx.moveTo(px, g.y(v));
      open = true;
    }
    ctx.stroke();
  }

  drawLine(ctx, g, d, style) {
    ctx.strokeStyle = style.colour;
    ctx.setLineDash(style.dash);
    ctx.lineWidth = isExact(d) ? 1.75 : 1.25;
    const smoothing = this.options.smoothing;
    ctx.globalAlpha = smoothing > 0 ? 0.25 : 1;
    this.path(ctx, g, d, d.last, !isExact(d));
    this.dots(ctx, g, d, style); // raw values: faint like their line when smoothed
    if (smoothing > 0) {
      ctx.globalAlpha = 1;
      ctx.lineWidth = 2;
      this.path(ctx, g, d, smooth(d, smoothing), false);
    }
    ctx.setLineDash([]);
    ctx.globalAlpha = 1;
    this.markers(ctx, g, d, style);
  }

  // Dots make short exact lines (and isolated values between gaps) visible.
  dots(ctx, g, d, style) {
    if (!isExact(d) || d.count > 60) return;
    ctx.fillStyle = style.colour;
    for (let b = 0; b < d.count; b++) {
      const v = d.last[b];
      if (!(d.flags[b] & FINITE) || (g.log && v <= 0)) continue;
      ctx.beginPath(); ctx.arc(this.bucketX(g, d, b), g.y(v), 2.5, 0, 2 * Math.PI); ctx.fill();
    }
  }

  markers(ctx, g, d, style) {
    for (let b = 0; b < d.count; b++) {
      const f = d.flags[b], px = this.bucketX(g, d, b);
      if (f & NAN) { ctx.fillStyle = "rgba(214, 110, 0, 0.35)"; ctx.fillRect(Math.floor(px), M.top, 2, g.plotH); }
      for (const up of [true, false]) {
        if (!(f & (up ? POS_INF : NEG_INF))) continue;
        const tipY = up ? M.top - 6 : M.top + g.plotH + 6, dy = up ? 7 : -7;
        ctx.fillStyle = style.colour;
        ctx.beginPath(); ctx.moveTo(px, tipY); ctx.lineTo(px - 4, tipY + dy); ctx.lineTo(px + 4, tipY + dy); ctx.fill();
      }
    }
  }

  indexAt(clientX) {
    const g = this.g;
    if (!g) return -1;
    const t = (clientX - this.plot.getBoundingClientRect().left - M.left) / g.plotW;
    if (t < -0.02 || t > 1.02) return -1;
    return Math.min(g.end - 1, Math.max(g.start, Math.round(g.start + t * Math.max(1, g.end - 1 - g.start))));
  }

  hover(event) {
    const index = this.indexAt(event.clientX);
    this.show(index);
    if (this.dragFrom === undefined || this.dragFrom < 0 || index < 0) return;
    const ctx = this.overlay.getContext("2d"), g = this.g;
    const [a, b] = [g.x(this.dragFrom), g.x(index)].sort((p, q) => p - q);
    ctx.fillStyle = "rgba(31, 95, 191, 0.15)";
    ctx.fillRect(a, M.top, Math.max(1, b - a), g.plotH);
  }

  drop(event) {
    const from = this.dragFrom, to = this.indexAt(event.clientX);
    this.dragFrom = undefined;
    if (from === undefined || from < 0 || to < 0 || Math.abs(this.g.x(to) - this.g.x(from)) < 5) return;
    this.zoom(Math.min(from, to), Math.max(from, to) + 1);
  }

  key(event) {
    const g = this.g;
    if (!g) return;
    const buckets = Math.max(1, ...this.data.map((d) => (d ? d.count : 1)));
    const stepSize = Math.max(1, Math.round((g.end - g.start) / buckets));
    const moves = { ArrowRight: stepSize, ArrowLeft: -stepSize, PageUp: 10 * stepSize, PageDown: -10 * stepSize };
    const at = this.cursor < 0 ? g.start : this.cursor;
    let next;
    if (event.key in moves) next = this.cursor < 0 ? g.start : at + moves[event.key];
    else if (event.key === "Home") next = g.start;
    else if (event.key === "End") next = g.end - 1;
    else if (event.key === "+" || event.key === "=") {
      const half = Math.max(2, Math.floor((g.end - g.start) / 4));
      const start = Math.max(g.start, at - half);
      event.preventDefault();
      this.zoom(start, Math.min(g.end, start + 2 * half));
      return;
    } else if (event.key === "Escape") { event.preventDefault(); this.zoom(0, null); return; }
    else return;
    event.preventDefault();
    this.show(Math.min(g.end - 1, Math.max(g.start, next)));
  }

  show(index) {
    this.cursor = index;
    const g = this.g;
    if (!g) return;
    const ctx = clearedOverlay(this.overlay, g, HEIGHT);
    if (index < g.start || index >= g.end) { this.tip.hidden = true; return; }
    const px = g.x(index);
    cursorLine(ctx, g, px);
    const rows = [this.indexLabel(index)];
    this.data.forEach((d, i) => {
      const b = bucketAt(d, index), line = this.lines[i];
      rows.push(`${line.label || rows.pop()}: ${b < 0 ? "no value" : describeBucket(d, b)}`);
      const v = b < 0 ? NaN : d.last[b];
      if (b >= 0 && d.flags[b] & FINITE && !(g.log && v <= 0)) {
        ctx.fillStyle = line.style.colour;
        ctx.beginPath(); ctx.arc(px, g.y(v), 3.5, 0, 2 * Math.PI); ctx.fill();
      }
    });
    this.tip.textContent = rows.join("\n");
    this.tip.hidden = false;
    placeTip(this.tip, g, px);
    this.readout.textContent = `${this.name}, ${rows.join("; ")}`;
  }
}
