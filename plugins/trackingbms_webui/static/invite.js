// Accepting an invitation: the token comes from the URL fragment, never from the server's logs.

const form = document.getElementById("invite-form");
const error = document.querySelector('[data-field="error"]');
const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";

function showError(text) {
  error.textContent = text;
  error.hidden = false;
}

async function submit(event) {
  event.preventDefault();
  error.hidden = true;
  const body = { token, username: form.username.value, password: form.password.value };
  const response = await fetch("/api/v1/auth/invitations/accept", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  }).catch(() => null);
  if (response === null) return showError("The hub cannot be reached.");
  if (response.ok) return location.replace("/login");
  const envelope = await response.json().catch(() => ({}));
  showError(envelope.message || `The invitation could not be accepted (${response.status}).`);
}

if (!token) showError("This link has no invitation token.");
form.addEventListener("submit", submit);
