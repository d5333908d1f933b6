// Shared helpers of the stepmetrics pages (an ES module the page modules
// import): API calls with the session cookie, number and time formatting,
// table cells. No third-party code.
const NON_FINITE = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };

// How many executions the Compare page shows, and its URL for `ids`.
export const COMPARE = { min: 2, max: 10 };

export function compareHref(ids) {
  return "/compare?" + new URLSearchParams(ids.map((id) => ["e", id])).toString();
}

// A link to the runs page of pipeline or deployment `name` ("—" when null).
export function runsLink(kind, name) {
  if (!name) return "—";
  const link = document.createElement("a");
  link.href = `/${kind}s/` + encodeURIComponent(name);
  link.textContent = name;
  return link;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function toLogin() {
  const here = location.pathname + location.search;
  location.assign("/login?next=" + encodeURIComponent(here));
}

// GET from the reader API; the session cookie authenticates.
async function get(path, accept) {
  const response = await fetch(path, {
    credentials: "same-origin",
    headers: { Accept: accept },
    cache: "no-store",
  });
  if (response.status === 401) {
    toLogin();
    throw new ApiError(401, "signed out");
  }
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try {
      message = (await response.json()).error || message;
    } catch (_) {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, message);
  }
  return response;
}

// A JSON document of the reader API.
export async function api(path) {
  return (await get(path, "application/json")).json();
}

const LITTLE_ENDIAN = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f;

// `count` little-endian float64 values of `buffer` from byte `offset` (a multiple of 8).
export function float64sOf(buffer, offset = 0, count = (buffer.byteLength - offset) / 8) {
  if (LITTLE_ENDIAN) return new Float64Array(buffer, offset, count);
  const view = new DataView(buffer), values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = view.getFloat64(offset + i * 8, true);
  return values;
}

// A binary answer of the reader API: its bytes and its headers.
export async function binary(path) {
  const response = await get(path, "application/octet-stream");
  return { buffer: await response.arrayBuffer(), headers: response.headers };
}

// The API encodes non-finite numbers as "NaN", "Infinity", "-Infinity".
export function num(value) {
  return typeof value === "string" && value in NON_FINITE ? NON_FINITE[value] : Number(value);
}

// Exact value: JS prints the shortest string that reads back to the same
// double, and "NaN", "Infinity", "-Infinity" as the API spells them.
export function fmt(value) {
  return String(value);
}

// Short value for axis labels.
export function fmtShort(value) {
  if (!Number.isFinite(value)) return fmt(value);
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e6 || magnitude < 1e-3) return value.toExponential(2).replace(/\.?0+e/, "e");
  return String(Number(value.toPrecision(4)));
}

// "2026-11-26T19:56:18.123456Z" -> "2026-11-26 19:56:18.123" (UTC).
export function fmtTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toISOString().replace("T", " ").replace("Z", "");
}

export function timeElement(iso) {
  const element = document.createElement("time");
  element.dateTime = iso || "";
  element.textContent = fmtTime(iso);
  return element;
}

// A table cell (`tag` "td" or "th") holding text or a node, appended to `row`.
function appendCell(row, tag, content, className) {
  const element = document.createElement(tag);
  if (content instanceof Node) element.append(content);
  else element.textContent = content;
  if (className) element.className = className;
  row.append(element);
  return element;
}

export function cell(row, content, className) {
  return appendCell(row, "td", content, className);
}

// A new table row whose first cell is its header: `header` (text or a node).
export function headedRow(header) {
  const tr = document.createElement("tr");
  appendCell(tr, "th", header).scope = "row";
  return tr;
}

// A chart's <figure> (data-metric = name) with a caption holding its <h3> title.
export function chartFigure(name) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.dataset.metric = name;
  const caption = document.createElement("figcaption");
  const title = document.createElement("h3");
  title.textContent = name;
  caption.append(title);
  figure.append(caption);
  return { figure, caption };
}

// The filter box `box` narrows the chart figures (`figures()`, each with
// data-metric) to those whose name holds its text, any case; #filter-count
// says how many are shown.
export function filterCharts(box, figures) {
  box.addEventListener("input", () => {
    const text = box.value.trim().toLowerCase(), all = figures();
    for (const figure of all) figure.hidden = Boolean(text) && !figure.dataset.metric.toLowerCase().includes(text);
    const shown = all.filter((figure) => !figure.hidden).length;
    document.getElementById("filter-count").textContent = text ? `${shown} of ${all.length} list metrics shown.` : "";
  });
}

export function setStatus(text, isError) {
  const status = document.getElementById("status");
  if (!status) return;
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

// Calls `tick` every `ms` while the page is visible, never two at once; when
// it resolves true (something changed) calls `changed`. Errors pause nothing:
// they are shown, and the next tick tries again.
export function live(ms, tick, changed) {
  let busy = false;
  setInterval(async () => {
    if (busy || document.visibilityState !== "visible") return;
    busy = true;
    try {
      if (await tick()) changed();
    } catch (error) {
      if (error.status !== 401) setStatus("Live updates paused: " + error.message, true);
    } finally {
      busy = false;
    }
  }, ms);
}
