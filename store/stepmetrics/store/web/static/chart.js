// Canvas line chart of one list metric (value by index), hand-written.
// Up to 50,000 points stay responsive: the data is reduced per pixel column
// (min, max, first, last finite value) for drawing only; hover and keyboard
// read the exact value at an index. NaN and ±Infinity are drawn as markers.
import { fmt, fmtShort } from "./common.js";
import { M, clearedOverlay, cursorLine, drawAxes, fitCanvas, padRange, placeTip } from "./plot.js";

const HEIGHT = 260;
const C = {
  line: "#1f5fbf",
  nan: "rgba(214, 110, 0, 0.35)", inf: "#c0143c", cursor: "#111",
};
const NAN = 1, POS_INF = 2, NEG_INF = 4, FINITE = 8;

function stats(values) {
  let min = Infinity, max = -Infinity, nonFinite = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === v && v !== Infinity && v !== -Infinity) {
      if (v < min) min = v;
      if (v > max) max = v;
    } else nonFinite++;
  }
  return { min, max, nonFinite, finite: min <= max };
}

// Reduce values to one bucket per pixel column (typed arrays: no garbage).
export function reduce(values, width) {
  const n = values.length;
  const lo = new Float64Array(width), hi = new Float64Array(width);
  const first = new Float64Array(width), last = new Float64Array(width);
  const flags = new Uint8Array(width);
  for (let c = 0; c < width; c++) {
    const start = Math.floor((c * n) / width);
    const end = Math.max(start + 1, Math.floor(((c + 1) * n) / width));
    let f = 0, mn = Infinity, mx = -Infinity, fv = 0, lv = 0;
    for (let i = start; i < end; i++) {
      const v = values[i];
      if (v !== v) f |= NAN;
      else if (v === Infinity) f |= POS_INF;
      else if (v === -Infinity) f |= NEG_INF;
      else {
        if (!(f & FINITE)) fv = v;
        f |= FINITE;
        lv = v;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
    }
    lo[c] = mn; hi[c] = mx; first[c] = fv; last[c] = lv; flags[c] = f;
  }
  return { lo, hi, first, last, flags, width };
}

export class Chart {
  constructor(container, name) {
    this.name = name;
    this.values = new Float64Array(0);
    this.cursor = -1;
    // What the tooltip calls index i (a page may name its points otherwise).
    this.indexLabel = (i) => `index ${i.toLocaleString("en")}`;
    this.plot = document.createElement("div");
    this.plot.className = "plot";
    this.plot.tabIndex = 0;
    this.plot.setAttribute("role", "group");
    this.base = document.createElement("canvas");
    this.overlay = document.createElement("canvas");
    this.base.setAttribute("aria-hidden", "true");
    this.overlay.setAttribute("aria-hidden", "true");
    this.tip = document.createElement("div");
    this.tip.className = "tooltip";
    this.tip.hidden = true;
    this.readout = document.createElement("p");
    this.readout.className = "readout";
    this.readout.setAttribute("aria-live", "polite");
    this.plot.append(this.base, this.overlay, this.tip);
    container.append(this.plot, this.readout);
    this.plot.addEventListener("mousemove", (e) => this.hover(e));
    this.plot.addEventListener("mouseleave", () => this.show(-1));
    this.plot.addEventListener("keydown", (e) => this.key(e));
    this.plot.addEventListener("blur", () => this.show(-1));
    new ResizeObserver(() => this.draw()).observe(this.plot);
  }

  setData(values) {
    this.values = values;
    this.stats = stats(values);
    const s = this.stats, n = values.length;
    const range = s.finite ? `values from ${fmtShort(s.min)} to ${fmtShort(s.max)}` : "no finite values";
    this.plot.setAttribute(
      "aria-label",
      `Line chart of ${this.name}: ${n.toLocaleString("en")} values by index, ${range}` +
        (s.nonFinite ? `, ${s.nonFinite} NaN or infinite` : "") +
        ". Use the left and right arrow keys to read values.",
    );
    this.base.dataset.points = String(n);
    this.base.dataset.nonfinite = String(s.nonFinite);
    if (this.cursor >= n) this.cursor = n - 1;
    this.draw();
  }

  geometry() {
    const width = Math.max(120, Math.floor(this.plot.clientWidth));
    const plotW = width - M.left - M.right, plotH = HEIGHT - M.top - M.bottom;
    const s = this.stats.finite ? this.stats : { min: 0, max: 1 };
    const [min, max] = padRange(s.min, s.max);
    const n = this.values.length;
    const x = (i) => M.left + (n <= 1 ? plotW / 2 : (i / (n - 1)) * plotW);
    const y = (v) => M.top + (1 - (v - min) / (max - min)) * plotH;
    return { width, plotW, plotH, min, max, x, y, n };
  }

  draw() {
    if (!this.stats) return;
    const started = performance.now();
    const g = this.geometry();
    this.g = g;
    const ctx = fitCanvas(this.base, g.width, HEIGHT);
    fitCanvas(this.overlay, g.width, HEIGHT);
    drawAxes(ctx, g, 0, Math.max(0, g.n - 1));
    ctx.save();
    ctx.beginPath();
    ctx.rect(M.left - 4, M.top - 8, g.plotW + 8, g.plotH + 16); // room for edge dots
    ctx.clip();
    if (g.n > g.plotW) this.drawReduced(ctx, g);
    else this.drawPoints(ctx, g);
    ctx.restore();
    this.base.dataset.drawMs = (performance.now() - started).toFixed(1);
    this.show(this.cursor);
  }

  marker(ctx, g, px, kind) {
    if (kind === NAN) {
      ctx.fillStyle = C.nan;
      ctx.fillRect(Math.floor(px), M.top, 2, g.plotH);
      return;
    }
    const up = kind === POS_INF, tipY = up ? M.top - 6 : M.top + g.plotH + 6;
    ctx.fillStyle = C.inf;
    ctx.beginPath();
    ctx.moveTo(px, tipY); ctx.lineTo(px - 4, tipY + (up ? 7 : -7)); ctx.lineTo(px + 4, tipY + (up ? 7 : -7));
    ctx.fill();
  }

  // Markers go on top of the line, drawn after it (each marker starts a new path).
  markers(ctx, g, list) {
    for (const [px, kind] of list) this.marker(ctx, g, px, kind);
  }

  drawReduced(ctx, g) {
    const r = reduce(this.values, g.plotW), marks = [];
    ctx.beginPath();
    let open = false;
    for (let c = 0; c < r.width; c++) {
      const f = r.flags[c], px = M.left + c + 0.5;
      for (const kind of [NAN, POS_INF, NEG_INF]) if (f & kind) marks.push([px, kind]);
      if (!(f & FINITE)) { open = false; continue; }
      if (open) ctx.lineTo(px, g.y(r.first[c])); else ctx.moveTo(px, g.y(r.first[c]));
      ctx.lineTo(px, g.y(r.lo[c])); ctx.lineTo(px, g.y(r.hi[c])); ctx.lineTo(px, g.y(r.last[c]));
      open = true;
    }
    ctx.strokeStyle = C.line;
    ctx.lineWidth = 1;
    ctx.stroke();
    this.markers(ctx, g, marks);
    this.base.dataset.columns = String(r.width);
  }

  drawPoints(ctx, g) {
    const v = this.values, marks = [];
    ctx.beginPath();
    let open = false;
    for (let i = 0; i < g.n; i++) {
      const px = g.x(i);
      if (Number.isFinite(v[i])) {
        if (open) ctx.lineTo(px, g.y(v[i])); else ctx.moveTo(px, g.y(v[i]));
        open = true;
      } else {
        marks.push([px, v[i] !== v[i] ? NAN : v[i] > 0 ? POS_INF : NEG_INF]);
        open = false;
      }
    }
    ctx.strokeStyle = C.line;
    ctx.lineWidth = 1.5;
    ctx.stroke();
    ctx.fillStyle = C.line;
    // Dots make short lists (and isolated values between gaps) visible.
    for (let i = 0; g.n <= 60 && i < g.n; i++) {
      if (Number.isFinite(v[i])) { ctx.beginPath(); ctx.arc(g.x(i), g.y(v[i]), 2.5, 0, 2 * Math.PI); ctx.fill(); }
    }
    this.markers(ctx, g, marks);
    this.base.dataset.columns = String(g.n);
  }

  indexAt(clientX) {
    const g = this.g, rect = this.plot.getBoundingClientRect();
    const t = (clientX - rect.left - M.left) / g.plotW;
    if (g.n === 0 || t < -0.02 || t > 1.02) return -1;
    return Math.min(g.n - 1, Math.max(0, Math.round(t * (g.n - 1))));
  }

  hover(event) { this.show(this.indexAt(event.clientX)); }

  key(event) {
    const n = this.values.length, big = Math.max(1, Math.round(n / 100));
    const moves = { ArrowRight: 1, ArrowLeft: -1, PageUp: big, PageDown: -big };
    let next;
    if (event.key in moves) next = (this.cursor < 0 ? 0 : this.cursor + moves[event.key]);
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = n - 1;
    else return;
    event.preventDefault();
    this.show(Math.min(n - 1, Math.max(0, next)));
  }

  show(index) {
    this.cursor = index;
    const g = this.g;
    if (!g) return;
    const ctx = clearedOverlay(this.overlay, g, HEIGHT);
    if (index < 0 || index >= g.n) { this.tip.hidden = true; return; }
    const value = this.values[index], px = g.x(index);
    cursorLine(ctx, g, px);
    if (Number.isFinite(value)) {
      ctx.fillStyle = C.cursor;
      ctx.beginPath(); ctx.arc(px, g.y(value), 3.5, 0, 2 * Math.PI); ctx.fill();
    }
    const text = `${this.indexLabel(index)}: ${fmt(value)}`;
    this.tip.textContent = text;
    this.tip.hidden = false;
    placeTip(this.tip, g, px);
    this.readout.textContent = `${this.name}, ${text}`;
  }
}
