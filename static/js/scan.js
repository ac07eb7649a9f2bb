// Barcode scanners type the code and press Enter. In an input marked data-scan, Enter must not
// submit a form whose other fields are still empty: it moves on to the next field instead, or
// submits when the input also has data-scan-submit (the scan is the last thing the form needs).
(function () {
  "use strict";

  function isVisible(element) {
    return element.getClientRects().length > 0;
  }

  function canTakeFocus(element) {
    if (element.disabled || element.type === "hidden" || element.tagName === "FIELDSET") {
      return false;
    }
    return element.tabIndex >= 0 && isVisible(element);
  }

  // A radio group is one stop, as with Tab: its checked radio, or its first one.
  function focusTarget(element) {
    if (element.type !== "radio" || !element.name || !element.form) {
      return element;
    }
    const group = Array.from(element.form.elements).filter(
      (other) => other.type === "radio" && other.name === element.name
    );
    return group.find((radio) => radio.checked) || group[0];
  }

  function nextField(input) {
    const fields = Array.from(input.form.elements);
    const after = fields.slice(fields.indexOf(input) + 1);
    const next = after.find(canTakeFocus);
    return next ? focusTarget(next) : null;
  }

  document.addEventListener("keydown", function (event) {
    const input = event.target;
    if (event.key !== "Enter" || !(input instanceof HTMLInputElement)) {
      return;
    }
    if (!input.hasAttribute("data-scan") || !input.form) {
      return;
    }
    event.preventDefault();
    if (input.value.trim() === "") {
      return; // an empty scan (a stray Enter) changes nothing
    }
    if (input.hasAttribute("data-scan-submit")) {
      input.form.requestSubmit();
      return;
    }
    const next = nextField(input);
    if (next) {
      next.focus();
    }
  });
})();
