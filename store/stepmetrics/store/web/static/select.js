// Choosing executions to compare: a checkbox per execution row and the
// "Compare selected" button (#compare, put in the page's #compare-bar, with
// its hint) that opens the Compare page once 2 to 10 are ticked. Ticks
// survive the rows' redraws.
import { COMPARE, compareHref } from "./common.js";

export class Selection {
  constructor() {
    this.ids = new Set();
    this.button = document.createElement("button");
    Object.assign(this.button, { type: "button", id: "compare" });
    this.hint = document.createElement("span");
    Object.assign(this.hint, { id: "compare-hint", className: "hint" });
    this.hint.setAttribute("aria-live", "polite");
    this.button.setAttribute("aria-describedby", this.hint.id);
    document.getElementById("compare-bar").append(this.button, this.hint);
    this.update();
    this.button.addEventListener("click", () => location.assign(compareHref([...this.ids])));
  }

  // A labelled checkbox that ticks `id`.
  box(id) {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "select";
    box.checked = this.ids.has(id);
    box.setAttribute("aria-label", `Select ${id} to compare`);
    box.addEventListener("change", () => {
      if (box.checked) this.ids.add(id); else this.ids.delete(id);
      this.update();
    });
    return box;
  }

  update() {
    const n = this.ids.size, ok = n >= COMPARE.min && n <= COMPARE.max;
    this.button.disabled = !ok;
    this.button.textContent = `Compare selected (${n})`;
    this.hint.textContent = ok ? `${n} executions selected.` :
      `Select ${COMPARE.min} to ${COMPARE.max} executions to compare them (${n} selected).`;
  }
}
