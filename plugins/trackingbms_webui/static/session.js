// The browser's session: tokens live in HttpOnly cookies; scripts send the CSRF cookie's value
// as X-CSRF-Token on writes, renew the session once on a 401 and otherwise go to the login page.

const CSRF_COOKIE = "trackingbms_csrf";

/** The CSRF token the server set in a readable cookie, or "". */
export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === CSRF_COOKIE) return decodeURIComponent(value.join("="));
  }
  return "";
}

/** Rotate the refresh cookie for new tokens; true when the session is still alive. */
export async function renewSession() {
  const csrf = csrfToken();
  if (!csrf) return false;
  try {
    const response = await fetch("/api/v1/auth/refresh", {
      method: "POST",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf },
    });
    return response.ok;
  } catch {
    return false;
  }
}

/** Leave for the login page, coming back here afterwards. */
export function toLogin() {
  const next = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

/** fetch() that renews the session once on a 401 and goes to the login page when that fails. */
export async function authFetch(url, options = {}) {
  const send = () => {
    const headers = { ...(options.headers || {}) };
    const method = (options.method || "GET").toUpperCase();
    if (!["GET", "HEAD", "OPTIONS"].includes(method)) headers["X-CSRF-Token"] = csrfToken();
    return fetch(url, { ...options, headers });
  };
  const response = await send();
  if (response.status !== 401) return response;
  if (await renewSession()) {
    const again = await send();
    if (again.status !== 401) return again;
  }
  toLogin();
  throw new Error("not logged in");
}

/** End the session on the hub (its cookies are cleared), then show the login page. */
export async function logout() {
  await fetch("/api/v1/auth/logout", {
    method: "POST",
    headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
  }).catch(() => null);
  location.assign("/login");
}
