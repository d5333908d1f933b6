// The Compare page: 2-10 executions named in the URL (`?e=id&e=id...`): their
// scalars side by side (rows that differ highlighted) and one chart per list
// metric they all have, one line per execution, drawn from server-side
// buckets. Live: polls each execution; redraws what changed.
import { COMPARE, api, cell, chartFigure, filterCharts, fmt, headedRow, live, num, setStatus, timeElement } from "./common.js";
import { optionControls, resetButton } from "./controls.js";
import { LinesChart } from "./lines.js";
import { fetchBuckets, lineStyle } from "./series.js";

const POLL_MS = 2000;
const main = document.getElementById("main");
const ids = [...new Set(new URLSearchParams(location.search).getAll("e"))];
const lines = ids.map((id, i) => ({ label: id, style: lineStyle(i) }));
const charts = new Map(); // list name -> { figure, chart }
let details = [];

function swatch(style) {
  const element = document.createElement("canvas");
  element.width = 32; element.height = 10;
  element.setAttribute("aria-hidden", "true");
  const ctx = element.getContext("2d");
  ctx.strokeStyle = style.colour; ctx.lineWidth = 2; ctx.setLineDash(style.dash);
  ctx.beginPath(); ctx.moveTo(0, 5); ctx.lineTo(32, 5); ctx.stroke();
  return element;
}

function legend() {
  const list = document.createElement("ul");
  list.className = "legend";
  list.setAttribute("aria-label", "Legend");
  lines.forEach((line, i) => {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = "mono";
    label.textContent = line.label;
    item.append(swatch(line.style), label);
    item.dataset.line = String(i);
    list.append(item);
  });
  return list;
}

function renderCompared() {
  const body = document.querySelector("#compared tbody");
  body.replaceChildren();
  details.forEach((ex, i) => {
    const link = document.createElement("a");
    link.href = "/executions/" + encodeURIComponent(ex.execution_id);
    link.className = "mono";
    link.textContent = ex.execution_id;
    const tr = headedRow(link);
    cell(tr, swatch(lines[i].style));
    cell(tr, ex.pipeline_name || "—");
    cell(tr, ex.deployment_name || "—");
    cell(tr, timeElement(ex.created_at));
    body.append(tr);
  });
}

function renderScalars() {
  const table = document.getElementById("compare-scalars");
  const head = table.querySelector("thead tr");
  head.replaceChildren(head.firstElementChild);
  for (const id of ids) {
    const th = document.createElement("th");
    th.scope = "col"; th.className = "num mono"; th.textContent = id;
    head.append(th);
  }
  const values = details.map((ex) => new Map(ex.scalars.map((m) => [m.name, fmt(num(m.value))])));
  const names = [...new Set(details.flatMap((ex) => ex.scalars.map((m) => m.name)))].sort();
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const name of names) {
    const shown = values.map((byName) => byName.get(name) ?? "—");
    const differs = new Set(shown).size > 1;
    const tr = headedRow(name);
    if (differs) {
      const note = document.createElement("span");
      note.className = "visually-hidden";
      note.textContent = " (differs)";
      tr.firstElementChild.append(note);
      tr.classList.add("differs");
    }
    for (const text of shown) cell(tr, text, "num mono");
    tr.dataset.metric = name;
    tr.dataset.differs = String(differs);
    body.append(tr);
  }
}

function sharedLists() {
  const [first, ...rest] = details.map((ex) => ex.lists.map((l) => l.name));
  const shared = first.filter((name) => rest.every((names) => names.includes(name)));
  const all = new Set(details.flatMap((ex) => ex.lists.map((l) => l.name)));
  const note = document.getElementById("not-shared");
  const others = [...all].filter((name) => !shared.includes(name)).sort();
  note.hidden = !others.length;
  note.textContent = `Not shown (not every execution has them): ${others.join(", ")}.`;
  return shared;
}

function chartFor(name) {
  const { figure, caption } = chartFigure(name);
  figure.append(legend());
  document.getElementById("charts").append(figure);
  const load = (i, start, end, buckets) => fetchBuckets(ids[i], name, start, end, buckets);
  const chart = new LinesChart(figure, name, lines, load);
  resetButton(caption, name, chart);
  charts.set(name, { figure, chart });
  return chart;
}

function setupControls() {
  filterCharts(document.getElementById("metric-filter"), () => [...charts.values()].map((e) => e.figure));
  optionControls(() => [...charts.values()].map((e) => e.chart));
}

async function load() {
  details = await Promise.all(ids.map((id) => api("/api/v1/executions/" + encodeURIComponent(id))));
  renderCompared();
  renderScalars();
  const names = sharedLists();
  if (!names.length) document.getElementById("charts").textContent = "No list metric is shared by every execution.";
  await Promise.all(names.map((name) => chartFor(name).refresh().then(() => {
    main.dataset.firstChartAt ??= String(Math.round(performance.now()));
  })));
}

// Lengths drawn for list `name` differ from the executions' outlines.
function grown(name, { chart }) {
  return details.some((ex, i) => {
    const info = ex.lists.find((l) => l.name === name);
    return info && chart.data[i] && info.length !== chart.data[i].length;
  });
}

async function poll() {
  const fresh = await Promise.all(ids.map((id) => api("/api/v1/executions/" + encodeURIComponent(id))));
  const changed = fresh.some((ex, i) => ex.updated_at !== details[i].updated_at);
  details = fresh;
  if (!changed) return false;
  renderScalars();
  await Promise.all([...charts].filter(([name, entry]) => grown(name, entry)).map(([, e]) => e.chart.refresh()));
  return true;
}

async function start() {
  if (ids.length < COMPARE.min || ids.length > COMPARE.max) {
    main.dataset.state = "error";
    setStatus(`Choose ${COMPARE.min} to ${COMPARE.max} executions to compare (got ${ids.length}).`, true);
    return;
  }
  setupControls();
  try {
    await load();
  } catch (error) {
    main.dataset.state = "error";
    if (error.status !== 401) setStatus("Could not load: " + error.message, true);
    return;
  }
  main.dataset.readyAt = String(Math.round(performance.now()));
  main.dataset.state = "ready";
  setStatus(`Comparing ${ids.length} executions. Live: checking every ${POLL_MS / 1000} s.`);
  live(POLL_MS, poll, () => setStatus(`Live: updated at ${new Date().toISOString().slice(11, 19)} UTC.`));
}

start();
