// The controls of the bucketed charts (lines.js) a page shares: a "Reset zoom"
// button in a chart's caption, and the page's log-scale and smoothing inputs
// (#log-scale, #smoothing with #smoothing-value, made here so every page has
// the same) applied to every chart.

// A "Reset zoom" button for `chart` (of list `name`) appended to `caption`.
export function resetButton(caption, name, chart) {
  const reset = document.createElement("button");
  reset.type = "button";
  reset.className = "reset-zoom";
  reset.textContent = "Reset zoom";
  reset.setAttribute("aria-label", `Reset the zoom of ${name}`);
  reset.addEventListener("click", () => chart.zoom(0, null));
  caption.append(reset);
  return reset;
}

function optionInputs(container) {
  const log = document.createElement("div"), smooth = document.createElement("div");
  log.className = "check";
  log.innerHTML = '<input id="log-scale" type="checkbox"> <label for="log-scale">Logarithmic y axis</label>';
  smooth.innerHTML = '<label for="smoothing">Smoothing (EMA weight) <output id="smoothing-value" ' +
    'for="smoothing">0</output></label> ' +
    '<input id="smoothing" type="range" min="0" max="0.99" step="0.01" value="0">';
  container.append(log, smooth);
  return [log.querySelector("input"), smooth.querySelector("input"), smooth.querySelector("output")];
}

// The page's options (added to the .chart-controls group) applied to each
// chart of `charts()` on change; `options()` is what a new chart starts with.
export function optionControls(charts) {
  const [log, smoothing, shown] = optionInputs(document.querySelector(".chart-controls"));
  const options = () => ({ log: log.checked, smoothing: Number(smoothing.value) });
  const apply = () => { for (const chart of charts()) chart.setOptions(options()); };
  log.addEventListener("change", apply);
  smoothing.addEventListener("input", () => {
    shown.textContent = smoothing.value;
    apply();
  });
  return options;
}
