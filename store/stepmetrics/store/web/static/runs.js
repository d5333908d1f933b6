// A pipeline's (or deployment's) runs page: its executions newest first as
// rows, their scalar metrics as columns (sortable, chosen when there are
// many), a trend chart of one chosen metric across the runs, and selection
// for the Compare page. Live: re-reads the runs and their metrics every 5 s
// and redraws when a run or a value is new (column choice, sort and trend kept).
// The trend is a LinesChart over the run index (zoom, log scale, smoothing).
import { api, cell, chartFigure, fmt, fmtTime, headedRow, live, num, setStatus, timeElement } from "./common.js";
import { optionControls, resetButton } from "./controls.js";
import { LinesChart } from "./lines.js";
import { Selection } from "./select.js";
import { lineStyle, localBuckets } from "./series.js";

const POLL_MS = 5000, MAX_RUNS = 1000, METRIC_PAGE = 10000, MAX_METRIC_PAGES = 50, DEFAULT_COLUMNS = 8;
const main = document.getElementById("main");
const filter = { [main.dataset.kind + "_name"]: main.dataset.name };
const selection = new Selection();
const options = optionControls(() => (trend ? [trend.chart] : []));
let runs = [], names = [], shown = new Set(), sort = { key: "created_at", descending: true };
let trend = null, seen = "";

async function readRuns() {
  const query = new URLSearchParams({ ...filter, limit: String(MAX_RUNS) });
  const page = await api("/api/v1/executions?" + query.toString());
  const values = new Map(page.items.map((run) => [run.execution_id, new Map()]));
  let cursor = null, pages = 0;
  do {
    const q = new URLSearchParams({ ...filter, limit: String(METRIC_PAGE) });
    if (cursor) q.set("cursor", cursor);
    const metrics = await api("/api/v1/metrics?" + q.toString());
    for (const m of metrics.items) values.get(m.execution_id)?.set(m.name, num(m.value));
    cursor = metrics.next_cursor;
  } while (cursor && ++pages < MAX_METRIC_PAGES);
  runs = page.items.map((run) => ({ ...run, values: values.get(run.execution_id) }));
  names = [...new Set(runs.flatMap((run) => [...run.values.keys()]))].sort();
  for (const n of names) if (shown.size < DEFAULT_COLUMNS) shown.add(n);
  return page.next_cursor !== null;
}

// What the page shows of the runs read last, to tell whether anything is new.
function fingerprint() {
  return JSON.stringify(runs.map((run) => [run.execution_id, run.updated_at, [...run.values].map(String)]));
}

function sortValue(run, key) {
  if (key === "created_at") return run.created_at;
  const v = run.values.get(key);
  return v === undefined || v !== v ? null : v;
}

function sortedRuns() {
  const { key, descending } = sort;
  return [...runs].sort((a, b) => {
    const x = sortValue(a, key), y = sortValue(b, key);
    if (x === null || y === null) return x === null ? (y === null ? 0 : 1) : -1; // missing last
    return (x < y ? -1 : x > y ? 1 : 0) * (descending ? -1 : 1);
  });
}

function header(key, label) {
  const th = document.createElement("th");
  th.scope = "col";
  if (key !== "execution") {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    button.textContent = label;
    button.dataset.key = key;
    button.addEventListener("click", () => {
      sort = { key, descending: sort.key === key ? !sort.descending : true };
      renderTable();
      document.querySelector(`#runs button.sort[data-key="${CSS.escape(key)}"]`).focus();
    });
    th.append(button);
    if (sort.key === key) th.setAttribute("aria-sort", sort.descending ? "descending" : "ascending");
    if (key !== "created_at") th.className = "num";
  } else th.textContent = label;
  return th;
}

function renderTable() {
  const columns = names.filter((n) => shown.has(n));
  document.querySelector("#runs thead tr").replaceChildren(
    header("execution", "Execution"), header("created_at", "Created at (UTC)"),
    ...columns.map((n) => header(n, n)));
  const body = document.querySelector("#runs tbody");
  body.replaceChildren();
  for (const run of sortedRuns()) {
    const link = document.createElement("a");
    link.href = "/executions/" + encodeURIComponent(run.execution_id);
    link.className = "mono";
    link.textContent = run.execution_id;
    const tr = headedRow(link);
    tr.firstElementChild.prepend(selection.box(run.execution_id), " ");
    cell(tr, timeElement(run.created_at));
    for (const n of columns) cell(tr, run.values.has(n) ? fmt(run.values.get(n)) : "—", "num mono");
    tr.dataset.executionId = run.execution_id;
    body.append(tr);
  }
}

function renderColumnChoice() {
  const choice = document.getElementById("column-choice");
  choice.hidden = names.length <= DEFAULT_COLUMNS;
  document.getElementById("column-boxes").replaceChildren(...names.map((n) => {
    const label = document.createElement("label"), box = document.createElement("input");
    box.type = "checkbox";
    box.checked = shown.has(n);
    box.addEventListener("change", () => { if (box.checked) shown.add(n); else shown.delete(n); renderTable(); });
    label.append(box, n);
    return label;
  }));
}

// The trend of `name`, one point per run, oldest first (a new metric: full view).
function drawTrend(name) {
  const points = runs.filter((r) => r.values.has(name)).reverse();
  const values = Float64Array.from(points, (r) => r.values.get(name));
  if (!trend) {
    const { figure, caption } = chartFigure(name);
    document.getElementById("trend").replaceChildren(figure);
    const load = (_, start, end, buckets) => localBuckets(trend.values, start, end, buckets);
    const chart = new LinesChart(figure, name, [{ label: "", style: lineStyle(0) }], load);
    trend = { figure, chart, title: caption.firstElementChild };
    trend.chart.setOptions(options());
    resetButton(caption, "the trend", trend.chart);
  }
  const changed = trend.figure.dataset.metric !== name;
  Object.assign(trend, { values });
  trend.figure.dataset.metric = trend.chart.name = trend.title.textContent = name;
  trend.chart.indexLabel = (i) => `${points[i].execution_id} (${fmtTime(points[i].created_at)})`;
  if (changed) trend.chart.zoom(0, null);
  else trend.chart.refresh();
}

// The trend's metric choice (the chosen one kept) and its chart.
function renderTrend() {
  const select = document.getElementById("trend-metric"), chosen = select.value;
  select.replaceChildren(...names.map((n) => new Option(n, n)));
  if (names.includes(chosen)) select.value = chosen;
  if (names.length) drawTrend(select.value);
  else if (!trend) document.getElementById("trend").textContent = "No metric values recorded in these runs.";
}

// Reads the runs; draws them when they differ from what is shown (true then).
async function update() {
  const more = await readRuns(), now = fingerprint();
  if (now === seen) return false;
  seen = now;
  renderColumnChoice();
  renderTable();
  renderTrend();
  const scope = `${main.dataset.kind} ${main.dataset.name}`;
  setStatus(runs.length ? `${runs.length}${more ? " newest" : ""} runs of ${scope}.` : `No runs of ${scope}.`);
  document.getElementById("status").append(` Live: checking every ${POLL_MS / 1000} s.`);
  return true;
}

async function start() {
  const select = document.getElementById("trend-metric");
  select.addEventListener("change", () => drawTrend(select.value));
  try {
    await update();
    main.dataset.state = "ready";
  } catch (error) {
    main.dataset.state = "error";
    if (error.status !== 401) setStatus("Could not load: " + error.message, true);
    return;
  }
  live(POLL_MS, update, () => { main.dataset.updatedAt = new Date().toISOString(); });
}

start();
