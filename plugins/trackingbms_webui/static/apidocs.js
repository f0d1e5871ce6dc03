// Starts Swagger UI (served from node_modules) on this hub's OpenAPI document (/api/docs).

// A browser logged in to the web UI calls the API with its session cookie; unsafe methods then need
// the CSRF cookie's value in a header (double submit), which "Try it out" requests get here.
function withCsrf(request) {
  const match = document.cookie.match(/(?:^|; )trackingbms_csrf=([^;]*)/);
  if (match) {
    request.headers["X-CSRF-Token"] = decodeURIComponent(match[1]);
  }
  return request;
}

window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
    requestInterceptor: withCsrf,
  });
});
