// TrackingBMS alerts page: the alerts of the batteries the user may see, newest first, with a
// button to acknowledge a raised one. The list refreshes itself every REFRESH_MS.

import { authFetch, logout } from "/static/session.js";

const API = "/api/v1";
const PER_PAGE = 200;
const REFRESH_MS = 15000;
const DASH = "—";

const view = { state: "open", request: 0 };

const $ = (selector) => document.querySelector(selector);

/** The message in the page's language when the hub has it, else English. */
function message(alert) {
  const texts = alert.message || {};
  const language = (navigator.language || "en").slice(0, 2);
  return texts[language] || texts.en || Object.values(texts)[0] || alert.rule_name || DASH;
}

function formatTime(iso) {
  if (!iso) return DASH;
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(alert) {
  const tr = document.createElement("tr");
  tr.dataset.alertId = alert.id;
  tr.dataset.state = alert.state;
  tr.append(
    cell(alert.severity, `severity severity-${alert.severity}`),
    cell(alert.battery_name || alert.battery_id || DASH),
    cell(message(alert)),
    cell(formatTime(alert.raised_at)),
    cell(alert.acknowledged_by ? `${alert.state} by ${alert.acknowledged_by}` : alert.state),
  );
  const action = document.createElement("td");
  if (alert.state === "raised") {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Acknowledge";
    button.addEventListener("click", () => acknowledge(alert, button));
    action.append(button);
  }
  tr.append(action);
  return tr;
}

async function acknowledge(alert, button) {
  button.disabled = true;
  const response = await authFetch(`${API}/alerts/${encodeURIComponent(alert.id)}/acknowledge`, {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify({}),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({ message: response.statusText }));
    $('[data-field="summary"]').textContent = `Could not acknowledge: ${body.message}`;
    button.disabled = false;
    return;
  }
  await load();
}

async function load() {
  const request = ++view.request;
  for (const button of document.querySelectorAll("[data-state]")) {
    button.setAttribute("aria-pressed", String(button.dataset.state === view.state));
  }
  const params = new URLSearchParams({ per_page: String(PER_PAGE) });
  if (view.state) params.set("state", view.state);
  const response = await authFetch(`${API}/alerts?${params}`, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({ message: response.statusText }));
  if (request !== view.request) return;
  if (!response.ok) {
    $('[data-field="summary"]').textContent = `Could not read the alerts: ${body.message}`;
    return;
  }
  const total = body.meta.pagination.total;
  const shown = body.data.length < total ? ` (the newest ${body.data.length} shown)` : "";
  const which = view.state === "open" ? "open alert" : "alert";
  $('[data-field="summary"]').textContent = `${total} ${which}${total === 1 ? "" : "s"}${shown}`;
  $('[data-field="alerts"]').replaceChildren(...body.data.map(row));
  $('[data-field="table"]').hidden = body.data.length === 0;
  document.body.dataset.loaded = String(view.request);
}

function main() {
  document.querySelector('[data-action="logout"]')?.addEventListener("click", logout);
  for (const button of document.querySelectorAll("[data-state]")) {
    button.addEventListener("click", () => {
      view.state = button.dataset.state;
      load();
    });
  }
  load();
  setInterval(load, REFRESH_MS);
}

main();
