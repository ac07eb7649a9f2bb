// Storage pages: take the person to the first error on a page sent back, and in "Add a shelf,
// rack or box" show the box fields only for a box, and rows/columns only for "Other size".
(function () {
  "use strict";

  // --- a page sent back with errors: the first one gets focus (this beats autofocus) ----------
  const firstError = document.querySelector('[aria-invalid="true"], .form-errors');
  if (firstError) {
    const details = firstError.closest("details");
    if (details) {
      details.open = true;
    }
    firstError.focus();
    firstError.scrollIntoView({ block: "center" });
  }

  // --- the add form: what a box needs appears when "Box" is chosen ---------------------------
  document.querySelectorAll("form[data-container-form]").forEach(function (form) {
    const boxOnly = form.querySelector("[data-box-only]");
    const customSize = form.querySelector("[data-custom-size]");

    function chosen(name) {
      const checked = form.querySelector(`input[name="${name}"]:checked`);
      return checked ? checked.value : "";
    }

    // Never hide a field that shows an error: the person must see what to fix.
    function hideUnlessError(element, hide) {
      element.hidden = hide && !element.querySelector(".has-error, [aria-invalid='true']");
    }

    function update() {
      if (boxOnly) {
        hideUnlessError(boxOnly, chosen("kind") !== "box");
      }
      if (customSize) {
        hideUnlessError(customSize, chosen("size") !== "custom");
      }
    }

    form.addEventListener("change", update);
    update();
  });
})();
