// Canvas helpers of the line charts (lines.js): margins, canvas sizing, axis
// ranges and the axes with their grid.
import { fmtShort } from "./common.js";

export const M = { left: 68, right: 14, top: 16, bottom: 30 };
const C = { axis: "#444", grid: "#e4e6ea", text: "#333" };

export function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const unit = raw / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
}

// The value range drawn for data in min..max: never empty, 5% margin each side.
export function padRange(min, max) {
  if (min === max) { const pad = Math.abs(min) * 0.1 || 1; min -= pad; max += pad; }
  const pad = (max - min) * 0.05;
  return [min - pad, max + pad];
}

// Size `canvas` to width x height CSS pixels at the screen's pixel ratio.
export function fitCanvas(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = width + "px";
  canvas.style.height = height + "px";
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

// Grid and labels for values g.min..g.max (axis units; `label` turns one into
// the value shown) and indices first..last at g.x(i).
export function drawAxes(ctx, g, first, last, label = (v) => v) {
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = C.text;
  ctx.strokeStyle = C.grid;
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const step = niceStep(g.max - g.min, 4);
  for (let v = Math.ceil(g.min / step) * step; v <= g.max; v += step) {
    const py = Math.round(M.top + (1 - (v - g.min) / (g.max - g.min)) * g.plotH) + 0.5;
    ctx.beginPath(); ctx.moveTo(M.left, py); ctx.lineTo(M.left + g.plotW, py); ctx.stroke();
    ctx.fillText(fmtShort(label(Math.abs(v) < step * 1e-9 ? 0 : v)), M.left - 6, py);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const xStep = Math.max(1, niceStep(Math.max(1, last - first), Math.max(2, Math.floor(g.plotW / 90))));
  for (let i = Math.ceil(first / xStep) * xStep; i <= last; i += xStep) {
    ctx.fillText(i.toLocaleString("en"), g.x(i), M.top + g.plotH + 8);
  }
  ctx.strokeStyle = C.axis;
  ctx.beginPath();
  ctx.moveTo(M.left + 0.5, M.top); ctx.lineTo(M.left + 0.5, M.top + g.plotH + 0.5);
  ctx.lineTo(M.left + g.plotW, M.top + g.plotH + 0.5);
  ctx.stroke();
}

// The dashed vertical line at x = px that marks the index being read.
export function cursorLine(ctx, g, px) {
  ctx.strokeStyle = "#111";
  ctx.setLineDash([3, 3]);
  ctx.beginPath(); ctx.moveTo(px, M.top); ctx.lineTo(px, M.top + g.plotH); ctx.stroke();
  ctx.setLineDash([]);
}

// The overlay canvas, cleared, ready for the cursor of a new reading.
export function clearedOverlay(overlay, g, height) {
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, g.width, height);
  return ctx;
}

// Place the tooltip beside the cursor at x = px, on the side with room.
export function placeTip(tip, g, px) {
  const left = px + 10 + tip.offsetWidth > g.width ? Math.max(0, px - 10 - tip.offsetWidth) : px + 10;
  tip.style.left = left + "px";
  tip.style.top = M.top + 4 + "px";
}
