(function () {
  "use strict";
  const target = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: target.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The validator badge would call an outside host; the docs must work offline.
    validatorUrl: null,
  });
})();
