// The Execution page: summary, Metrics tab (scalar table + one chart per list
// metric, drawn by lines.js from server-side buckets: zoom, reset, log scale,
// smoothing) and Export tab. Live: polls GET /api/v1/executions/{id}; redraws
// the scalars when its `updated_at` moves and re-reads (for the range shown)
// only the lists whose length differs from what is drawn. An admin session
// also gets the Delete section (delete.js).
import { optionControls, resetButton } from "./controls.js";
import { api, cell, chartFigure, filterCharts, fmt, fmtTime, headedRow, live, num, runsLink, setStatus, timeElement } from "./common.js";
import { setupDelete } from "./delete.js";
import { LinesChart } from "./lines.js";
import { fetchBuckets, lineStyle } from "./series.js";

const POLL_MS = 2000;
const started = performance.now();
const main = document.getElementById("main");
const id = main.dataset.executionId;
const base = "/api/v1/executions/" + encodeURIComponent(id);
const charts = new Map(); // list name -> { figure, meta, chart }
const LINE = [{ label: "", style: lineStyle(0) }];
let last = null, options = () => ({});

function renderSummary(ex) {
  const fields = {
    pipeline_name: runsLink("pipeline", ex.pipeline_name),
    deployment_name: runsLink("deployment", ex.deployment_name),
    created_at: fmtTime(ex.created_at),
    updated_at: fmtTime(ex.updated_at),
  };
  for (const [key, content] of Object.entries(fields)) {
    document.querySelector(`#summary [data-field="${key}"]`).replaceChildren(content);
  }
}

function renderScalars(scalars) {
  const body = document.querySelector("#scalars tbody");
  body.replaceChildren();
  for (const metric of scalars) {
    const tr = headedRow(metric.name);
    const value = num(metric.value);
    const td = cell(tr, fmt(value), "num mono");
    if (!Number.isFinite(value)) td.classList.add("nonfinite");
    cell(tr, timeElement(metric.created_at));
    tr.dataset.metric = metric.name;
    body.append(tr);
  }
  if (!scalars.length) {
    const tr = document.createElement("tr");
    cell(tr, "No metric values recorded.").colSpan = 3;
    body.append(tr);
  }
}

// Values of the list `name` as drawn (-1 until its first read).
function drawnLength(name) {
  return charts.get(name)?.chart.data[0]?.length ?? -1;
}

function chartFor(name, info) {
  let entry = charts.get(name);
  if (!entry) {
    const { figure, caption } = chartFigure(name);
    const meta = document.createElement("span");
    meta.className = "meta";
    caption.append(meta);
    document.getElementById("charts").append(figure);
    const load = (_, start, end, buckets) => fetchBuckets(id, name, start, end, buckets);
    entry = { figure, meta, chart: new LinesChart(figure, name, LINE, load) };
    entry.chart.setOptions(options());
    resetButton(caption, name, entry.chart);
    charts.set(name, entry);
  }
  const parts = [`${info.length.toLocaleString("en")} values`, `created ${fmtTime(info.created_at)} UTC`];
  if (info.dropped) parts.push(`${info.dropped.toLocaleString("en")} dropped (50,000 cap)`);
  entry.meta.textContent = parts.join(" · ");
  return entry;
}

// Re-reads every list whose length changed, all at once (for the range shown).
async function renderLists(descriptors) {
  const container = document.getElementById("charts");
  if (!descriptors.length) {
    container.textContent = "No list metrics recorded.";
    return;
  }
  if (!charts.size) container.replaceChildren();
  const stale = descriptors.filter((info) => drawnLength(info.name) !== info.length);
  for (const info of descriptors) chartFor(info.name, info); // keeps the API's order
  await Promise.all(stale.map(async (info) => {
    const { chart } = charts.get(info.name);
    await chart.refresh();
    chartFor(info.name, { ...info, length: chart.data[0].length });
  }));
}

// Compared with what is drawn (not with the last summary), so values that
// arrived between two reads are fetched on the next poll.
function listsChanged(descriptors) {
  if (descriptors.length !== charts.size) return true;
  return descriptors.some((l) => drawnLength(l.name) !== l.length);
}

async function refresh() {
  const ex = await api(base);
  const changed = !last || ex.updated_at !== last.updated_at;
  if (changed) {
    renderSummary(ex);
    renderScalars(ex.scalars);
  }
  if (!last || listsChanged(ex.lists)) await renderLists(ex.lists);
  last = ex;
  return changed;
}

function setupControls() {
  filterCharts(document.getElementById("metric-filter"), () => [...charts.values()].map((e) => e.figure));
  options = optionControls(() => [...charts.values()].map((e) => e.chart));
}

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  function select(tab) {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    }
    for (const { chart } of charts.values()) chart.draw();
  }
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      next.focus();
      select(next);
    });
  });
}

async function start() {
  setupTabs();
  setupControls();
  setupDelete(base, () => window.location.assign("/"));
  try {
    await refresh();
    main.dataset.loadMs = String(Math.round(performance.now() - started));
    // Milliseconds from the start of the navigation to every chart drawn.
    main.dataset.readyAt = String(Math.round(performance.now()));
    main.dataset.state = "ready";
    setStatus(`Live: checking for new values every ${POLL_MS / 1000} s.`);
  } catch (error) {
    main.dataset.state = "error";
    if (error.status !== 401) setStatus(error.status === 404 ? `No execution ${id}.` : "Could not load: " + error.message, true);
    return;
  }
  live(POLL_MS, refresh, () => setStatus(`Live: updated at ${fmtTime(last.updated_at)} UTC.`));
}

start();
