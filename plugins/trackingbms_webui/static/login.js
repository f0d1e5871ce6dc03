// The login page: logs in through the API with "cookie": true, then goes back where it came from.
// A still valid refresh cookie logs in silently (the access cookie had only expired).

import { csrfToken, renewSession } from "/static/session.js";

const form = document.getElementById("login-form");
const error = document.querySelector('[data-field="error"]');

/** Where to go after logging in: a path on this site only (never another origin). */
function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

function showError(text) {
  error.textContent = text;
  error.hidden = false;
}

async function submit(event) {
  event.preventDefault();
  error.hidden = true;
  const body = { username: form.username.value, password: form.password.value, cookie: true };
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const csrf = csrfToken();
  if (csrf) headers["X-CSRF-Token"] = csrf;
  let response;
  try {
    response = await fetch("/api/v1/auth/login", { method: "POST", headers, body: JSON.stringify(body) });
  } catch {
    showError("The hub cannot be reached.");
    return;
  }
  if (response.ok) {
    location.replace(nextPath());
    return;
  }
  const envelope = await response.json().catch(() => ({}));
  if (response.status === 429) showError("Too many failed attempts: wait a moment and try again.");
  else showError(envelope.message || `Login failed (${response.status}).`);
}

form.addEventListener("submit", submit);
if (csrfToken()) {
  renewSession().then((renewed) => {
    if (renewed) location.replace(nextPath());
  });
}
