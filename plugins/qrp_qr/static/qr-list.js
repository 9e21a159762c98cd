// The QR list: choosing codes for the actions bar (count, select all, buttons that need a
// choice) and confirming the actions that stop links. A file: the CSP forbids inline scripts.
(function () {
  function boxes() {
    return Array.from(document.querySelectorAll("input[name=ids][form=qr-actions]"));
  }

  function refresh() {
    const chosen = boxes().filter((box) => box.checked).length;
    document.querySelectorAll("[data-selected-count]").forEach((el) => { el.textContent = chosen; });
    document.querySelectorAll("[data-needs-selection]").forEach((button) => { button.disabled = chosen === 0; });
    const all = document.querySelector("[data-select-all]");
    if (all) {
      const total = boxes().length;
      all.checked = total > 0 && chosen === total;
      all.indeterminate = chosen > 0 && chosen < total;
    }
    const bar = document.getElementById("qr-actions");
    if (bar) bar.classList.toggle("has-selection", chosen > 0);
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-select-all]")) {
      boxes().forEach((box) => { box.checked = event.target.checked; });
    }
    if (event.target.matches("[data-select-all], input[name=ids]")) refresh();
  });

  document.addEventListener("submit", (event) => {
    const button = event.submitter;
    const message = (button && button.dataset.confirm) || event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:afterSwap", refresh);
})();

// A code's page: "Share with an app…" where the browser can (phones), through the system sheet.
(function () {
  document.addEventListener("DOMContentLoaded", () => {
    if (!navigator.share) return;
    document.querySelectorAll("[data-share-url]").forEach((button) => {
      button.hidden = false;
      button.addEventListener("click", () => {
        navigator.share({ title: button.dataset.shareTitle, url: button.dataset.shareUrl })
          .catch(() => {});  // dismissed: nothing to say
      });
    });
  });
})();
