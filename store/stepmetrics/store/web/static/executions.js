// The executions list: newest first, filtered by pipeline and deployment,
// with metric counts; the first page refreshes itself every few seconds.
import { api, cell, headedRow, runsLink, setStatus, timeElement } from "./common.js";
import { Selection } from "./select.js";

const PAGE_SIZE = 50;
const REFRESH_MS = 5000;
const params = new URLSearchParams(location.search);
const filters = { pipeline_name: params.get("pipeline") || "", deployment_name: params.get("deployment") || "" };
const table = document.getElementById("executions");
const body = table.querySelector("tbody");
const more = document.getElementById("more");
let nextCursor = null;
let pagesLoaded = 0;
let firstPage = ""; // the last first page shown, to redraw only on a change
const selection = new Selection();

document.getElementById("filter-pipeline").value = filters.pipeline_name;
document.getElementById("filter-deployment").value = filters.deployment_name;

function url(cursor) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
  if (cursor) query.set("cursor", cursor);
  return "/api/v1/executions?" + query.toString();
}

function row(item) {
  const link = document.createElement("a");
  link.href = "/executions/" + encodeURIComponent(item.execution_id);
  link.textContent = item.execution_id;
  link.className = "mono";
  const tr = headedRow(link);
  tr.firstElementChild.prepend(selection.box(item.execution_id), " ");
  cell(tr, runsLink("pipeline", item.pipeline_name));
  cell(tr, runsLink("deployment", item.deployment_name));
  cell(tr, timeElement(item.created_at));
  cell(tr, timeElement(item.updated_at));
  cell(tr, String(item.scalar_count), "num");
  cell(tr, String(item.list_count), "num");
  tr.dataset.executionId = item.execution_id;
  return tr;
}

function describe(count) {
  const active = Object.entries(filters).filter(([, v]) => v).map(([k, v]) => k.replace("_name", "") + " " + JSON.stringify(v));
  const scope = active.length ? " for " + active.join(" and ") : "";
  if (count === 0) return "No executions" + scope + " yet. Record metrics in a step (or run `stepmetrics demo`).";
  return count + (nextCursor ? "+" : "") + " execution" + (count === 1 ? "" : "s") + scope + ".";
}

async function load(append) {
  try {
    const page = await api(url(append ? nextCursor : null));
    if (!append) {
      // Unchanged: keep the rows (and the keyboard focus on them) as they are.
      const text = JSON.stringify(page);
      if (text === firstPage) return;
      firstPage = text;
      body.replaceChildren();
    }
    for (const item of page.items) body.append(row(item));
    nextCursor = page.next_cursor;
    pagesLoaded = append ? pagesLoaded + 1 : 1;
    table.hidden = body.children.length === 0;
    more.hidden = !nextCursor;
    setStatus(describe(body.children.length));
  } catch (error) {
    if (error.status !== 401) setStatus("Could not load executions: " + error.message, true);
  }
}

more.addEventListener("click", () => load(true));
load(false);
// Live: refresh while only the first page is shown (never drop loaded pages).
setInterval(() => {
  if (document.visibilityState === "visible" && pagesLoaded <= 1) load(false);
}, REFRESH_MS);
