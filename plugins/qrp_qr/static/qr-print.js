// The print download form: a new unit keeps the same physical size (50.8 mm becomes 2 in, the
// usual 3 mm bleed the usual eighth of an inch) and the fields' limits follow it. A file: the
// CSP forbids inline scripts.
(function () {
  function toUnit(value, fromMm, toMm) {
    return String(Math.round((Number(value) * fromMm / toMm) * 100) / 100);
  }

  // The limits and the bleed's label of the chosen unit (a page restored from the history
  // may come back with inches chosen).
  function follow(unit) {
    const chosen = unit.selectedOptions[0];
    const { width, bleed } = unit.form.elements;
    width.min = chosen.dataset.min;
    width.max = chosen.dataset.max;
    bleed.max = chosen.dataset.bleedMax;
    unit.form.querySelectorAll("[data-bleed-unit]").forEach((label) => { label.textContent = chosen.value; });
    unit.dataset.previous = chosen.value;
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-print-unit]").forEach(follow);
  });

  document.addEventListener("change", (event) => {
    const unit = event.target.closest("[data-print-unit]");
    if (!unit) return;
    const before = Array.from(unit.options).find((option) => option.value === unit.dataset.previous);
    const after = unit.selectedOptions[0];
    const { width, bleed } = unit.form.elements;
    if (before && before !== after) {
      if (width.value !== "") width.value = toUnit(width.value, before.dataset.mmPerUnit, after.dataset.mmPerUnit);
      if (bleed.value !== "") {
        bleed.value = Number(bleed.value) === Number(before.dataset.bleed)
          ? after.dataset.bleed : toUnit(bleed.value, before.dataset.mmPerUnit, after.dataset.mmPerUnit);
      }
    }
    follow(unit);
  });
})();
