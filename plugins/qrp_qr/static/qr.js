// The QR editor: show the fields of the chosen type and design options, keep the live
// preview in step. Loaded as a file: the CSP forbids inline scripts.
(function () {
  // On a phone the preview sits above the form: once it has scrolled away, a small copy of
  // it (and whether it scans) stays in the corner; a tap brings the full preview back.
  function miniPreview() {
    const mini = document.getElementById("qr-mini-preview");
    const box = document.getElementById("qr-preview-box");
    if (!mini || !box || !("IntersectionObserver" in window)) return;
    const phone = window.matchMedia("(max-width: 768px)");
    const picture = mini.querySelector("img");
    const state = mini.querySelector(".qr-mini-state");
    let boxInView = true;
    const update = () => {
      const image = document.querySelector("#qr-preview .qr-preview-img");
      const refused = document.querySelector("#qr-preview .qr-preview-empty");
      if (image) picture.src = image.src;
      mini.classList.toggle("qr-mini-bad", !image && !!refused);
      state.textContent = image ? "Scans" : refused ? "Would not scan" : "";
      mini.hidden = !phone.matches || boxInView || !(image || refused);
    };
    new IntersectionObserver((entries) => {
      boxInView = entries[entries.length - 1].isIntersecting;
      update();
    }).observe(box);
    phone.addEventListener("change", update);
    document.body.addEventListener("htmx:afterSettle", update);
  }

  function sync(form) {
    const type = form.querySelector("select[name=type]");
    if (type) {
      form.querySelectorAll("fieldset[data-type]").forEach((set) => {
        set.hidden = set.dataset.type !== type.value;
        // Fields of hidden types are not sent: only the chosen type's content counts.
        set.disabled = set.hidden;
      });
    }
    const fixedKind = form.querySelector("input[type=hidden][name=kind][data-static-only]");
    if (type && fixedKind) {
      // A saved code keeps its kind: it never becomes a type that cannot have that kind
      // (a dynamic code never Wi-Fi, a static one never a microsite).
      const reasons = JSON.parse((fixedKind.value === "dynamic" ? fixedKind.dataset.staticOnly
                                  : fixedKind.dataset.dynamicOnly) || "{}");
      type.querySelectorAll("option").forEach((option) => {
        option.disabled = option.value in reasons && !option.selected;
      });
    }
    const kinds = form.querySelector("fieldset[data-static-only]");
    if (type && kinds) {
      // A type that has one kind only (Wi-Fi: static; a microsite: dynamic) takes it and
      // says why; back on another type, the choice taken away here returns.
      const staticReason = JSON.parse(kinds.dataset.staticOnly || "{}")[type.value];
      const dynamicReason = JSON.parse(kinds.dataset.dynamicOnly || "{}")[type.value];
      for (const [kind, other, reason] of [["dynamic", "static", staticReason],
                                           ["static", "dynamic", dynamicReason]]) {
        const taken = kinds.querySelector(`input[value=${kind}]`);
        const kept = kinds.querySelector(`input[value=${other}]`);
        const flag = `forced${other[0].toUpperCase()}${other.slice(1)}`;
        if (!taken || !kept) continue;
        if (reason && !taken.disabled) {
          if (taken.checked) {
            kept.checked = true;
            kinds.dataset[flag] = "1";
          }
          taken.disabled = true;
        } else if (!reason && taken.disabled) {
          taken.disabled = false;
          if (kinds.dataset[flag]) {
            taken.checked = true;
            delete kinds.dataset[flag];
          }
        }
      }
      const note = kinds.querySelector("[data-static-only-note]");
      const reason = staticReason || dynamicReason;
      if (note) { note.textContent = reason || ""; note.hidden = !reason; }
    }
    // A logo takes error correction H (the service raises it too): the select says so.
    const correction = form.querySelector("select[name=error_correction]");
    if (correction) {
      const logo = !!document.getElementById("logo-key");
      if (logo && correction.value !== "H") {
        correction.dataset.beforeLogo = correction.value;
        correction.value = "H";
      } else if (!logo && correction.dataset.beforeLogo) {
        correction.value = correction.dataset.beforeLogo;
        delete correction.dataset.beforeLogo;
      }
      correction.querySelectorAll("option").forEach((option) => {
        option.disabled = logo && option.value !== "H";
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
    // Before htmx sends the preview (capture runs first): it then sees the kind the type
    // allows.
    document.addEventListener("change", (event) => {
      if (form.contains(event.target)) sync(form);
    }, true);
    // Frame and eye colours follow the foreground until the person picks one of their own
    // (delegated: a saved design's fields are swapped in whole).
    const followers = () => ["frame_color", "eye_color"]
      .map((name) => form.querySelector(`input[name=${name}]`)).filter(Boolean);
    function markChosen() {
      const foreground = form.querySelector("input[name=foreground]");
      followers().forEach((input) => {
        if (input.value !== foreground?.value) input.dataset.chosen = "1";
      });
    }
    markChosen();
    form.addEventListener("input", (event) => {
      if (event.target.name === "foreground") {
        followers().forEach((input) => {
          if (!input.dataset.chosen) input.value = event.target.value;
        });
      } else if (followers().includes(event.target)) {
        event.target.dataset.chosen = "1";
      }
    });
    // A new logo, or a saved design's fields, arrive in their own swap: show what goes with
    // them and redraw the preview.
    document.body.addEventListener("htmx:afterSwap", (event) => {
      const design = event.detail.elt?.name === "design_template";
      if (design || event.detail.target.id === "qr-logo-state" || event.target.id === "qr-logo-state") {
        if (design) markChosen();
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
    miniPreview();
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
