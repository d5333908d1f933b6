// The Execution page: summary, Metrics tab (scalar table + one chart per list
// metric) and Export tab. Live: polls GET /api/v1/executions/{id} and reloads
// what changed when its `updated_at` (or a list's length) moves.
"use strict";

(() => {
  const POLL_MS = 2000;
  const started = performance.now();
  const main = document.getElementById("main");
  const id = main.dataset.executionId;
  const base = "/api/v1/executions/" + encodeURIComponent(id);
  const charts = new Map();
  let last = null;

  function renderSummary(ex) {
    const fields = {
      pipeline_name: ex.pipeline_name || "—",
      deployment_name: ex.deployment_name || "—",
      created_at: SM.fmtTime(ex.created_at),
      updated_at: SM.fmtTime(ex.updated_at),
    };
    for (const [key, text] of Object.entries(fields)) {
      document.querySelector(`#summary [data-field="${key}"]`).textContent = text;
    }
  }

  function renderScalars(scalars) {
    const body = document.querySelector("#scalars tbody");
    body.replaceChildren();
    for (const metric of scalars) {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = metric.name;
      tr.append(th);
      const value = SM.num(metric.value);
      const td = SM.cell(tr, SM.fmt(value), "num mono");
      if (!Number.isFinite(value)) td.classList.add("nonfinite");
      SM.cell(tr, SM.timeElement(metric.created_at));
      tr.dataset.metric = metric.name;
      body.append(tr);
    }
    if (!scalars.length) {
      const tr = document.createElement("tr");
      SM.cell(tr, "No metric values recorded.").colSpan = 3;
      body.append(tr);
    }
  }

  // Every list of the execution with its values, following the cursor.
  async function fetchLists() {
    const lists = new Map();
    let cursor = null;
    do {
      const query = new URLSearchParams({ execution_id: id });
      if (cursor) query.set("cursor", cursor);
      const page = await SM.api("/api/v1/list-metrics?" + query.toString());
      for (const item of page.items) {
        const values = new Float64Array(item.value.length);
        for (let i = 0; i < values.length; i++) values[i] = SM.num(item.value[i]);
        lists.set(item.name, { values, created_at: item.created_at });
      }
      cursor = page.next_cursor && page.items.length ? page.next_cursor : null;
    } while (cursor);
    return lists;
  }

  function chartFor(name, info) {
    let entry = charts.get(name);
    if (!entry) {
      const figure = document.createElement("figure");
      figure.className = "chart";
      figure.dataset.metric = name;
      const caption = document.createElement("figcaption");
      const title = document.createElement("h3");
      title.textContent = name;
      const meta = document.createElement("span");
      meta.className = "meta";
      caption.append(title, meta);
      figure.append(caption);
      document.getElementById("charts").append(figure);
      entry = { figure, meta, chart: new LineChart.Chart(figure, name) };
      charts.set(name, entry);
    }
    const parts = [`${info.length.toLocaleString("en")} values`, `created ${SM.fmtTime(info.created_at)} UTC`];
    if (info.dropped) parts.push(`${info.dropped.toLocaleString("en")} dropped (50,000 cap)`);
    entry.meta.textContent = parts.join(" · ");
    return entry;
  }

  async function renderLists(descriptors) {
    const container = document.getElementById("charts");
    if (!descriptors.length) {
      container.textContent = "No list metrics recorded.";
      return;
    }
    if (!charts.size) container.replaceChildren();
    const lists = await fetchLists();
    for (const info of descriptors) {
      const data = lists.get(info.name);
      const values = data ? data.values : new Float64Array(0);
      chartFor(info.name, { ...info, length: values.length }).chart.setData(values);
    }
  }

  function listsChanged(before, after) {
    if (!before || before.lists.length !== after.lists.length) return true;
    return after.lists.some((l, i) => l.name !== before.lists[i].name || l.length !== before.lists[i].length);
  }

  async function refresh() {
    const ex = await SM.api(base);
    const changed = !last || ex.updated_at !== last.updated_at;
    if (changed) {
      renderSummary(ex);
      renderScalars(ex.scalars);
      if (listsChanged(last, ex)) await renderLists(ex.lists);
    }
    last = ex;
    return changed;
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
    try {
      await refresh();
      main.dataset.loadMs = String(Math.round(performance.now() - started));
      main.dataset.state = "ready";
      SM.setStatus(`Live: checking for new values every ${POLL_MS / 1000} s.`);
    } catch (error) {
      main.dataset.state = "error";
      if (error.status !== 401) SM.setStatus(error.status === 404 ? `No execution ${id}.` : "Could not load: " + error.message, true);
      return;
    }
    let busy = false;
    setInterval(async () => {
      if (busy || document.visibilityState !== "visible") return;
      busy = true;
      try {
        if (await refresh()) SM.setStatus(`Live: updated at ${SM.fmtTime(last.updated_at)} UTC.`);
      } catch (error) {
        if (error.status !== 401) SM.setStatus("Live updates paused: " + error.message, true);
      } finally {
        busy = false;
      }
    }, POLL_MS);
  }

  start();
})();
