// The media library in the browser: drag-and-drop and picked files are sent one request each,
// with a progress bar per file (XMLHttpRequest reports upload progress; fetch does not), and
// the picker other pages open fires "assets:picked" with the chosen asset.
// Loaded as a file: the CSP forbids inline scripts.
(function () {
  if (window.qrpAssets) return;  // the slot and the page may both load this file

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function fromHtml(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  // Send one file; ``done(card)`` gets the new asset's card element.
  function send(file, url, list, done) {
    const row = document.createElement("li");
    const name = document.createElement("span");
    name.className = "asset-upload-name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `Uploading ${file.name}`);
    row.append(name, bar);
    list.append(row);
    const body = new FormData();
    body.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("HX-Request", "true");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
    });
    request.addEventListener("load", () => {
      if (request.status === 201) {
        bar.value = 100;
        const note = document.createElement("small");
        note.className = "asset-upload-done";
        note.textContent = "Uploaded.";
        row.append(note);
        done(fromHtml(request.responseText));
      } else {
        bar.remove();
        const error = fromHtml(request.responseText) || document.createElement("p");
        if (!error.textContent) error.textContent = `Upload failed (${request.status}).`;
        error.className = "field-error";
        error.setAttribute("role", "alert");
        row.append(error);
      }
    });
    request.addEventListener("error", () => {
      bar.remove();
      const error = document.createElement("p");
      error.className = "field-error";
      error.setAttribute("role", "alert");
      error.textContent = "The connection failed; try again.";
      row.append(error);
    });
    request.send(body);
  }

  function addToGrid(card) {
    const grid = document.querySelector("[data-asset-grid]");
    if (!grid || !card) return;
    grid.prepend(card);
    if (window.htmx) window.htmx.process(card);
    document.querySelector("#asset-library .empty-state")?.remove();
  }

  function pick(element) {
    document.dispatchEvent(new CustomEvent("assets:picked", {
      detail: {
        id: element.dataset.assetId,
        name: element.dataset.assetName,
        preview: element.dataset.assetPreview,
      },
    }));
  }

  function setUpDropzone(zone) {
    const input = zone.querySelector("[data-asset-input]");
    const list = zone.querySelector("[data-asset-uploads]");
    const upload = (files) => Array.from(files).forEach((file) => send(file, zone.dataset.uploadUrl, list, addToGrid));
    input.addEventListener("change", () => { upload(input.files); input.value = ""; });
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("is-over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("is-over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("is-over");
      upload(event.dataTransfer.files);
    });
  }

  document.addEventListener("click", (event) => {
    const item = event.target.closest("[data-asset-pick]");
    if (item) pick(item);
  });
  document.addEventListener("change", (event) => {
    const input = event.target.closest("[data-asset-picker-input]");
    if (!input) return;
    const picker = input.closest("[data-asset-picker]");
    Array.from(input.files).forEach((file) => send(file, picker.dataset.uploadUrl,
      picker.querySelector("[data-asset-uploads]"), (card) => { if (card) pick(card); }));
    input.value = "";
  });
  const start = () => document.querySelectorAll("[data-asset-dropzone]").forEach(setUpDropzone);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  window.qrpAssets = { send, pick };
})();
