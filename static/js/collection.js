// Collection pages: focus on the first error, kit or pre-labelled kit (never both), sheet-only
// label fields, and "Now" buttons that fill a time input with the current time in the SITE's
// zone (the device's own zone may differ, e.g. a laptop set up elsewhere).
(function () {
  "use strict";

  // --- a page sent back with errors: take the person to the first one ------------------------
  // (on a tablet the refused tube may be far down the page; this also beats autofocus)
  const firstError = document.querySelector('[aria-invalid="true"], .form-errors');
  if (firstError) {
    firstError.focus();
    firstError.scrollIntoView({ block: "center" });
  }

  // --- new collection: choosing a kit and scanning a pre-labelled kit exclude each other ---
  document.querySelectorAll("form[data-kit-or-claim]").forEach(function (form) {
    const claim = form.querySelector("input[name=claim_barcode]");
    const kits = form.querySelectorAll("input[type=radio][name=kit]");
    if (!claim) {
      return;
    }
    claim.addEventListener("input", function () {
      if (claim.value.trim() !== "") {
        kits.forEach((radio) => (radio.checked = false));
      }
    });
    kits.forEach(function (radio) {
      radio.addEventListener("change", function () {
        claim.value = "";
      });
    });
  });

  // --- labels: the start position only means something on sheet stock -----------------------
  document.querySelectorAll("form[data-label-form]").forEach(function (form) {
    const stock = form.querySelector("select[data-stock-select]");
    const start = form.querySelector(".start-position");
    const startInput = start && start.querySelector("input");
    if (!stock || !startInput) {
      return;
    }
    function showStartForSheets() {
      const option = stock.options[stock.selectedIndex];
      const sheet = Boolean(option && option.dataset.sheet === "true");
      // Never hide a field showing an error; a hidden field goes back to the first label so
      // it cannot carry a value nobody sees.
      start.hidden = !sheet && !start.classList.contains("has-error");
      if (start.hidden) {
        startInput.value = "1";
      }
    }
    stock.addEventListener("change", showStartForSheets);
    showStartForSheets();
  });

  // --- "Now" buttons -------------------------------------------------------------------------
  const page = document.querySelector("[data-site-timezone]");
  if (!page) {
    return;
  }
  const clock = new Intl.DateTimeFormat("en-CA", {
    timeZone: page.dataset.siteTimezone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });

  function siteNow() {
    const parts = {};
    clock.formatToParts(new Date()).forEach((part) => (parts[part.type] = part.value));
    return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
  }

  document.querySelectorAll("button[data-now-for]").forEach(function (button) {
    const input = document.getElementById(button.dataset.nowFor);
    if (!input) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      input.value = siteNow();
      input.focus();
    });
  });
})();
