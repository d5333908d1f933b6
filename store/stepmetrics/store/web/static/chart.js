// Per-pixel-column reduction of a series of values (min, max, first, last
// finite value and NaN/±Infinity flags per column), in typed arrays: what the
// browser-side buckets of series.js are built from.
const NAN = 1, POS_INF = 2, NEG_INF = 4, FINITE = 8;

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
