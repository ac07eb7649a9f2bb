// Shared page behaviour. No inline scripts anywhere: the Content-Security-Policy forbids them.
(function () {
  "use strict";
  window.biobank = window.biobank || {};
  const meta = document.querySelector('meta[name="csrf-token"]');
  window.biobank.csrfToken = meta ? meta.content : "";
})();
