// The editor's redirect rules (qr/_rules_editor.html): drag a card by its handle (SortableJS)
// or move it with its arrows, add one from the template, delete one. The form sends the
// cards' keys in their order, so the order on screen is the order saved.
(function () {
  function renumber(list) {
    const cards = list.querySelectorAll("[data-rule]");
    cards.forEach((card, i) => {
      card.querySelector("[data-rule-number]").textContent = `Rule ${i + 1}`;
    });
    const count = document.querySelector("[data-rule-count]");
    if (count) count.textContent = String(cards.length);
    // Warnings were about the old order: the test box works out the new ones.
    list.querySelectorAll("[data-rule-warning]").forEach((note) => { note.hidden = true; });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const list = document.getElementById("rule-list");
    if (!list) return;
    if (window.Sortable) {
      Sortable.create(list, { handle: ".rule-handle", animation: 150, forceFallback: true,
        onEnd: () => renumber(list) });
    }
    const variants = document.getElementById("variant-list");
    document.addEventListener("click", (event) => {
      const split = event.target.closest("[data-variant-add], [data-variant-delete]");
      if (split && variants) {
        if (split.matches("[data-variant-add]")) {
          const key = Math.random().toString(36).slice(2, 10) || "v";
          const html = document.getElementById("variant-template").innerHTML
            .replaceAll("__KEY__", key);
          variants.insertAdjacentHTML("beforeend", html);
          variants.lastElementChild.querySelector("input[type=url]").focus();
        } else {
          split.closest("[data-variant]").remove();
        }
        return;
      }
      const button = event.target.closest(
        "[data-rule-add], [data-rule-delete], [data-rule-up], [data-rule-down]");
      if (!button) return;
      const card = button.closest("[data-rule]");
      if (button.matches("[data-rule-add]")) {
        const key = Math.random().toString(36).slice(2, 10) || "r";
        const html = document.getElementById("rule-template").innerHTML.replaceAll("__KEY__", key);
        list.insertAdjacentHTML("beforeend", html);
        list.lastElementChild.querySelector("input[type=url]").focus();
      } else if (button.matches("[data-rule-delete]")) {
        card.remove();
      } else if (button.matches("[data-rule-up]") && card.previousElementSibling) {
        list.insertBefore(card, card.previousElementSibling);
        button.focus();
      } else if (button.matches("[data-rule-down]") && card.nextElementSibling) {
        list.insertBefore(card.nextElementSibling, card);
        button.focus();
      }
      renumber(list);
    });
  });
})();
