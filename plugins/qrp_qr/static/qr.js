// The QR editor: show the fields of the chosen type and design options, keep the live
// preview in step. Loaded as a file: the CSP forbids inline scripts.
(function () {
  function sync(form) {
    const type = form.querySelector("select[name=type]");
    if (type) {
      form.querySelectorAll("fieldset[data-type]").forEach((set) => {
        set.hidden = set.dataset.type !== type.value;
        // Fields of hidden types are not sent: only the chosen type's content counts.
        set.disabled = set.hidden;
      });
    }
    const kind = form.querySelector("input[name=kind]:checked") || form.querySelector("input[name=kind]");
    const dynamic = !kind || kind.value === "dynamic";
    const checks = {
      custom_eyes: () => form.querySelector("input[name=custom_eyes]")?.checked,
      frame: () => form.querySelector("select[name=frame]")?.value === "box",
      logo: () => !!document.getElementById("logo-key"),
      dynamic: () => dynamic,
    };
    document.querySelectorAll("[data-show-if]").forEach((el) => {
      const check = checks[el.dataset.showIf];
      if (check) el.hidden = !check();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("qr-form");
    if (!form) return;
    sync(form);
    form.addEventListener("change", () => sync(form));
    // Frame and eye colours follow the foreground until the person picks one of their own.
    const foreground = form.querySelector("input[name=foreground]");
    const followers = ["frame_color", "eye_color"]
      .map((name) => form.querySelector(`input[name=${name}]`)).filter(Boolean);
    followers.forEach((input) => {
      if (input.value !== foreground?.value) input.dataset.chosen = "1";
      input.addEventListener("input", () => { input.dataset.chosen = "1"; });
    });
    foreground?.addEventListener("input", () => {
      followers.forEach((input) => { if (!input.dataset.chosen) input.value = foreground.value; });
    });
    // A new logo arrives in its own swap: show its size slider and redraw the preview.
    document.body.addEventListener("htmx:afterSwap", (event) => {
      if (event.detail.target.id === "qr-logo-state" || event.target.id === "qr-logo-state") {
        sync(form);
        htmx.trigger(form, "qr:refresh");
      }
    });
    // A logo picked from the media library (the assets plugin's picker): keep its id.
    document.addEventListener("assets:picked", (event) => {
      const state = document.getElementById("qr-logo-state");
      if (!state) return;
      const { id, name, preview } = event.detail;
      const input = Object.assign(document.createElement("input"),
        { type: "hidden", name: "logo", value: id, id: "logo-key" });
      input.setAttribute("form", "qr-form");
      const line = document.createElement("p");
      if (preview) {
        line.append(Object.assign(document.createElement("img"),
          { src: preview, alt: "", width: 48, height: 48 }), " ");
      }
      const note = document.createElement("small");
      note.textContent = `Logo: ${name}. Error correction is set to H.`;
      const clear = Object.assign(document.createElement("button"),
        { type: "button", className: "secondary outline small", textContent: "Remove logo" });
      clear.dataset.clearLogo = "";
      line.append(note, " ", clear);
      state.replaceChildren(input, line);
      sync(form);
      htmx.trigger(form, "qr:refresh");
    });
    document.addEventListener("click", (event) => {
      if (!event.target.matches("[data-clear-logo]")) return;
      document.getElementById("logo-key")?.remove();
      const file = document.querySelector("[data-logo-input]");
      if (file) file.value = "";
      event.target.closest("p")?.remove();
      sync(form);
      htmx.trigger(form, "qr:refresh");
    });
  });
})();
