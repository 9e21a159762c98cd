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
