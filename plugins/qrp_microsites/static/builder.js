// The microsites builder: drag to reorder (SortableJS, vendored from npm; the Move up/down
// buttons do the same from the keyboard), the focus kept where the person was after htmx
// swaps the list, the preview reloaded after each change, a refused form (422) swapped in with
// its messages, and the small rich-text editor of text blocks. No inline script (the CSP).
(function () {
  "use strict";

  const PANEL = "ms-blocks-panel";
  let lastFocus = null;

  function panel() { return document.getElementById(PANEL); }

  // A form the service refused answers 422 with the form and its messages: show it.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const status = event.detail.xhr.status;
    if (status === 422 || status === 409 || status === 402) {
      if (event.target.closest && event.target.closest(".ms-builder-page, .ms-main")) {
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      }
    }
  });

  document.addEventListener("htmx:beforeRequest", () => {
    const active = document.activeElement;
    lastFocus = active && active.id ? active.id : null;
  });

  // -- drag to reorder ---------------------------------------------------------------------------
  function initSortable(root) {
    const list = root.querySelector ? root.querySelector("#ms-blocks") : null;
    if (!list || list.dataset.sortable || !window.Sortable || !list.querySelector(".ms-drag")) return;
    list.dataset.sortable = "on";
    window.Sortable.create(list, {
      handle: ".ms-drag",
      draggable: ".ms-block",
      animation: 150,
      // Pointer events rather than the browser's own drag and drop: the same on a phone's
      // touch, a mouse and a pen.
      forceFallback: true,
      fallbackTolerance: 4,
      fallbackOnBody: true,
      ghostClass: "is-dragging",
      chosenClass: "is-chosen",
      onEnd(event) {
        if (event.oldIndex === event.newIndex) return;
        const ids = [...list.querySelectorAll(":scope > .ms-block:not(.sortable-fallback)")].map((li) => li.dataset.blockId);
        const box = panel();
        lastFocus = null;
        window.htmx.ajax("POST", box.dataset.orderUrl, {
          source: box, target: "#" + PANEL, swap: "outerHTML",
          values: { order: ids, moved: event.item.dataset.blockId },
        });
      },
    });
  }

  // -- the focus after a swap ----------------------------------------------------------------------
  function restoreFocus(box) {
    const form = box.querySelector(".ms-block-form");
    if (form) {
      if (form.querySelector("[data-error-summary]")) return; // app.js focuses the summary
      const first = form.querySelector(".ms-rich-area:not([hidden]), input:not([type=hidden]), select, textarea:not([hidden])");
      if (first) { first.focus(); first.scrollIntoView({ block: "center" }); }
      return;
    }
    const again = lastFocus ? document.getElementById(lastFocus) : null;
    if (again && box.contains(again) && !again.disabled) { again.focus(); return; }
    const id = box.dataset.focusBlock;
    const block = id ? document.getElementById("block-" + id) : null;
    if (block) { block.focus(); block.scrollIntoView({ block: "nearest" }); }
  }

  // -- the preview -----------------------------------------------------------------------------------
  function reloadPreview() {
    const frame = document.getElementById("ms-preview-frame");
    if (!frame) return;
    const url = frame.dataset.previewBase + "?v=" + Date.now();
    try {
      frame.contentWindow.location.replace(url); // no entry in the history
    } catch (error) {
      frame.src = url;
    }
  }
  document.addEventListener("microsites:changed", reloadPreview);

  // -- the rich-text editor ---------------------------------------------------------------------------
  function initRich(root) {
    root.querySelectorAll("[data-rich]:not([data-rich-ready])").forEach((box) => {
      const source = box.querySelector("[data-rich-source]");
      const area = box.querySelector(".ms-rich-area");
      const toolbar = box.querySelector(".ms-rich-toolbar");
      if (!source || !area || !toolbar || typeof document.execCommand !== "function") return;
      box.dataset.richReady = "1";
      area.innerHTML = source.value; // cleaned by the server (nh3) before it is shown
      area.hidden = false;
      toolbar.hidden = false;
      source.hidden = true;
      source.setAttribute("tabindex", "-1");
      const sync = () => { source.value = area.innerHTML; };
      area.addEventListener("input", sync);
      area.addEventListener("blur", sync);
      box.querySelector("label")?.addEventListener("click", (event) => {
        event.preventDefault();
        area.focus();
      });
      toolbar.addEventListener("mousedown", (event) => {
        if (event.target.closest("[data-command]")) event.preventDefault(); // keep the selection
      });
      toolbar.addEventListener("click", (event) => {
        const button = event.target.closest("[data-command]");
        if (!button) return;
        const command = button.dataset.command;
        let value = null;
        if (command === "createLink") {
          value = window.prompt("Link address (https://…)", "https://");
          if (!value) return;
        }
        area.focus();
        document.execCommand(command, false, value);
        sync();
      });
    });
  }

  function init(root) {
    initSortable(root);
    initRich(root);
  }

  document.addEventListener("DOMContentLoaded", () => init(document));
  document.addEventListener("htmx:load", (event) => init(event.target));
  document.addEventListener("htmx:afterSettle", (event) => {
    const box = panel();
    if (!box) return;
    init(box);
    if (event.target === box || box.contains(event.target) || event.target.id === PANEL) restoreFocus(box);
  });
})();
