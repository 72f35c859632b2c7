// Swagger UI for /docs, from the vendored bundle: a file, not an inline script, so the
// dashboard's Content-Security-Policy (script-src 'self') applies to the API docs too.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: document.getElementById("swagger-ui").dataset.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
