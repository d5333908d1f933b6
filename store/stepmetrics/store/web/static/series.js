// Data of the bucketed charts: one list metric of one execution reduced by the
// server (GET /api/v1/list-buckets?format=float64-le), the line styles of the
// compared executions and exponential-moving-average smoothing; or values
// already in the page bucketed the same way here (localBuckets).
import { reduce } from "./chart.js";
import { binary, float64sOf } from "./common.js";

export const NAN = 1, POS_INF = 2, NEG_INF = 4, FINITE = 8;
export const MIN_BUCKETS = 16, MAX_BUCKETS = 4000;

// Okabe-Ito colours (distinct for the common colour-blindnesses), each line
// also with its own dash pattern, so no line is told apart by colour alone.
const COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00",
  "#56b4e9", "#000000", "#8c6d1f", "#7b3294", "#c0143c"];
const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3], [4, 4], [12, 4, 2, 4, 2, 4],
  [1, 2], [6, 2, 6, 6], [14, 4], [3, 6]];

export function lineStyle(i) {
  return { colour: COLOURS[i % COLOURS.length], dash: DASHES[i % DASHES.length] };
}

// The buckets of `name` of `executionId` in start..end (end null: the whole list).
export async function fetchBuckets(executionId, name, start, end, buckets) {
  const count = Math.min(MAX_BUCKETS, Math.max(MIN_BUCKETS, Math.round(buckets)));
  const query = new URLSearchParams({ execution_id: executionId, name, buckets: String(count), format: "float64-le" });
  if (start > 0) query.set("start", String(start));
  if (end !== null && end > start) query.set("end", String(end));
  const { buffer, headers } = await binary("/api/v1/list-buckets?" + query.toString());
  const n = Number(headers.get("X-Stepmetrics-Buckets"));
  return {
    length: Number(headers.get("X-Stepmetrics-Length")),
    start: Number(headers.get("X-Stepmetrics-Start")),
    end: Number(headers.get("X-Stepmetrics-End")),
    count: n,
    nonFinite: Number(headers.get("X-Stepmetrics-Non-Finite")),
    min: float64sOf(buffer, 0, n),
    max: float64sOf(buffer, 8 * n, n),
    last: float64sOf(buffer, 16 * n, n),
    flags: new Uint8Array(buffer, 24 * n, n),
  };
}

// The buckets of values[start..end) (end null: to the end) made here, by the
// server's rule and in fetchBuckets' shape (a page's own values, e.g. one per run).
export function localBuckets(values, start, end, buckets) {
  const stop = end === null ? values.length : Math.min(end, values.length);
  const from = Math.min(start, stop), part = values.subarray(from, stop);
  const r = reduce(part, Math.min(part.length, Math.max(MIN_BUCKETS, Math.round(buckets))));
  let nonFinite = 0;
  for (const v of part) if (!Number.isFinite(v)) nonFinite++;
  return { length: values.length, start: from, end: stop, count: r.width, nonFinite,
    min: r.lo, max: r.hi, last: r.last, flags: r.flags };
}

// Bucket b of `d` covers indices lo..hi-1 (the server's rule).
export function bucketRange(d, b) {
  const span = d.end - d.start;
  return [d.start + Math.floor((b * span) / d.count), d.start + Math.floor(((b + 1) * span) / d.count)];
}

// The bucket of `d` holding `index`, or -1.
export function bucketAt(d, index) {
  if (!d || index < d.start || index >= d.end) return -1;
  let b = Math.floor(((index - d.start) * d.count) / (d.end - d.start));
  while (b > 0 && bucketRange(d, b)[0] > index) b--;
  while (b < d.count - 1 && bucketRange(d, b)[1] <= index) b++;
  return b;
}

// True when each bucket is one value (the range is shown exactly).
export function isExact(d) {
  return d.count === d.end - d.start;
}

// TensorBoard's debiased EMA of the buckets' last finite values; weight 0..1.
export function smooth(d, weight) {
  const out = new Float64Array(d.count);
  let acc = 0, seen = 0;
  for (let b = 0; b < d.count; b++) {
    if (!(d.flags[b] & FINITE)) { out[b] = NaN; continue; }
    seen++;
    acc = acc * weight + (1 - weight) * d.last[b];
    out[b] = weight ? acc / (1 - Math.pow(weight, seen)) : d.last[b];
  }
  return out;
}

// What a bucket holds, as text: the exact value, or last with the range.
export function describeBucket(d, b) {
  const f = d.flags[b];
  const marks = [f & NAN && "NaN", f & POS_INF && "Infinity", f & NEG_INF && "-Infinity"].filter(Boolean);
  const [lo, hi] = bucketRange(d, b);
  if (hi - lo === 1) return f & FINITE ? String(d.last[b]) : marks.join(" ");
  const parts = f & FINITE ? [`${d.last[b]} (min ${d.min[b]}, max ${d.max[b]})`] : [];
  return parts.concat(marks).join(", ") + ` over ${lo.toLocaleString("en")}–${(hi - 1).toLocaleString("en")}`;
}
