// Distribution pages (after storage.js, which takes a page sent back with errors to the first
// one): a refused scan stays in its field, selected, so the next scan replaces it.
(function () {
  "use strict";
  const focused = document.activeElement;
  if (focused instanceof HTMLInputElement && focused.hasAttribute("data-scan")) {
    focused.select();
  }
})();
