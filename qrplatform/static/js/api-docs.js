// Swagger UI from our own static files; the spec comes from /api/openapi.json.
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.specUrl,
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
});
