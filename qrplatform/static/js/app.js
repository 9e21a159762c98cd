// Small behaviours for every page, kept out of inline scripts so the CSP can forbid them:
// menus (one open at a time; Esc or a click elsewhere closes them), the phone's drawer, the
// error summary taking the focus, chosen files kept when htmx redraws their form, copy
// buttons, and selects that submit their form.
(function () {
  "use strict";

  function closeMenus(except) {
    document.querySelectorAll("details.menu[open]").forEach((menu) => {
      if (menu !== except && !menu.contains(except)) menu.open = false;
    });
  }

  document.addEventListener("toggle", (event) => {
    const menu = event.target;
    if (menu.matches && menu.matches("details.menu") && menu.open) closeMenus(menu);
  }, true);

  document.addEventListener("click", (event) => {
    if (!event.target.closest("details.menu")) closeMenus(null);
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const open = event.target.closest ? event.target.closest("details.menu[open]") : null;
    const menus = open ? [open] : [...document.querySelectorAll("details.menu[open]")];
    if (!menus.length) return;
    menus.forEach((menu) => { menu.open = false; });
    const summary = menus[0].querySelector("summary");
    if (summary) summary.focus();
    event.preventDefault();
  });

  // The phone's drawer is a modal <dialog>: the browser traps focus and Esc closes it.
  function drawer() { return document.getElementById("drawer"); }
  function setExpanded(value) {
    document.querySelectorAll("[data-drawer-open]").forEach((b) => b.setAttribute("aria-expanded", value));
  }
  document.addEventListener("click", (event) => {
    const dialog = drawer();
    if (!dialog) return;
    if (event.target.closest("[data-drawer-open]")) {
      dialog.showModal();
      setExpanded("true");
    } else if (event.target.closest("[data-drawer-close]") || event.target === dialog) {
      dialog.close();
    }
  });
  document.addEventListener("close", (event) => {
    if (event.target === drawer()) {
      setExpanded("false");
      document.querySelector("[data-drawer-open]")?.focus();
    }
  }, true);
  // A drawer left open when the window grows to a laptop's width would cover the page.
  window.matchMedia("(min-width: 1080px)").addEventListener("change", (query) => {
    if (query.matches && drawer()?.open) drawer().close();
  });

  // After a refused submit the error summary takes the focus, so it is read out first.
  function focusErrorSummary(root) {
    const summary = (root || document).querySelector("[data-error-summary]");
    if (summary) {
      summary.focus();
      summary.scrollIntoView({ block: "center" });
    }
  }
  document.addEventListener("DOMContentLoaded", () => focusErrorSummary(document));
  document.addEventListener("htmx:afterSettle", (event) => focusErrorSummary(event.target));
  // Forms keep what was typed: when htmx redraws a form after a refusal, its file inputs get
  // back the files chosen before (a server can never fill a file input in again).
  let keptFiles = null;
  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    if (!target || !target.querySelectorAll) return;
    keptFiles = new Map();
    target.querySelectorAll("input[type=file][name]").forEach((input) => {
      if (input.files && input.files.length) keptFiles.set(input.name, input.files);
    });
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    if (!keptFiles || !keptFiles.size || !event.target.querySelectorAll) return;
    keptFiles.forEach((files, name) => {
      const selector = `input[type=file][name="${CSS.escape(name)}"]`;
      const inputs = [...event.target.querySelectorAll(selector)];
      if (event.target.matches(selector)) inputs.push(event.target);
      inputs.forEach((input) => { if (!input.files.length) input.files = files; });
    });
  });
  // A link in the summary moves the focus to its field, not only the scroll position.
  document.addEventListener("click", (event) => {
    const link = event.target.closest("[data-error-summary] a[href^='#']");
    if (!link) return;
    const field = document.getElementById(link.getAttribute("href").slice(1));
    if (field) {
      event.preventDefault();
      field.closest("details")?.setAttribute("open", "");
      field.focus();
    }
  });

  // Copy buttons: data-copy holds the text; the label says "Copied" for a moment.
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const label = button.querySelector(".copy-label");
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
    } catch (error) {
      // No clipboard (insecure origin): select the neighbouring field so Ctrl+C works.
      button.parentElement?.querySelector("input")?.select();
      return;
    }
    button.classList.add("is-copied");
    if (label) {
      const before = label.textContent;
      label.textContent = "Copied";
      setTimeout(() => { label.textContent = before; button.classList.remove("is-copied"); }, 1600);
    }
    const status = document.getElementById("copy-status");
    if (status) status.textContent = "Copied to the clipboard.";
  });

  document.addEventListener("change", (event) => {
    const el = event.target;
    if (el.matches("select[data-autosubmit]")) el.form.requestSubmit();
  });
  document.addEventListener("focusin", (event) => {
    if (event.target.matches("[data-select-on-focus]")) event.target.select();
  });

  // An in-place action (htmx) that the server refused, or that could not reach it, would
  // otherwise leave a click without an answer: htmx swaps nothing for a 4xx or 5xx. The
  // message is the server's error page's own (its title and first line), at the bottom of
  // the window. A session that ended is not this case: the server sends the browser to the
  // login page (HX-Redirect).
  let failedElement = null;  // the alert goes when this one's next request works
  function showRequestProblem(text, element) {
    const region = document.querySelector("[data-request-problem]");
    if (!region) return;
    failedElement = element;
    region.hidden = false;
    // Written after the region shows, so that screen readers announce the alert.
    requestAnimationFrame(() => {
      region.querySelector("[data-request-problem-text]").textContent = text;
    });
  }
  function errorPageText(xhr) {
    try {
      const page = new DOMParser().parseFromString(xhr.responseText, "text/html")
        .querySelector(".error-page");
      if (!page) return "";
      const title = page.querySelector("h1")?.textContent.trim() || "";
      const line = page.querySelector("h1 + p")?.textContent.trim() || "";
      const id = page.querySelector("code")?.textContent.trim();
      return [title && `${title.replace(/[.!]$/, "")}.`, line, id && `Request id: ${id}.`]
        .filter(Boolean).join(" ");
    } catch (error) {
      return "";
    }
  }
  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    showRequestProblem(errorPageText(xhr)
      || `That did not work (the server answered ${xhr.status}). Try again.`, event.detail.elt);
  });
  document.addEventListener("htmx:sendError", (event) => {
    showRequestProblem("The server could not be reached. Check the connection, then try again.",
      event.detail.elt);
  });
  // Not on any request: a page's polling (a live counter) would take the alert away unread.
  document.addEventListener("htmx:afterRequest", (event) => {
    const region = document.querySelector("[data-request-problem]");
    if (region && !region.hidden && event.detail.successful && event.detail.elt === failedElement) {
      region.hidden = true;
    }
  });
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-request-problem-close]")) {
      document.querySelector("[data-request-problem]").hidden = true;
    }
  });

  // Sign-up: the new workspace's clock starts as the browser's (time-of-day redirect rules).
  document.querySelectorAll("input[data-browser-time-zone]").forEach((input) => {
    try {
      if (!input.value) input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (error) { /* an old browser: the workspace stays on UTC */ }
  });
})();
