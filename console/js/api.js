// The JSON API as the console calls it: the access token kept in memory, the refresh token in this tab's
// sessionStorage only (gone when the tab closes; nothing personal is ever stored), one retry after a refresh,
// and the server's error envelope turned into an ApiError whose message is the server's own words.

const REFRESH_KEY = "sygz.refresh";
const session = { access: null, refresh: sessionStorage.getItem(REFRESH_KEY) };
let signedOut = () => {};

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }

  // The server's message for one field (a form shows it beside that field).
  fieldMessages() {
    return Array.isArray(this.details) ? this.details.filter((d) => d && d.field) : [];
  }
}

export function onSignedOut(handler) {
  signedOut = handler;
}

export function hasSession() {
  return Boolean(session.access || session.refresh);
}

export function keep(pair) {
  session.access = pair.access_token;
  session.refresh = pair.refresh_token;
  sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
}

export function forget() {
  session.access = null;
  session.refresh = null;
  sessionStorage.removeItem(REFRESH_KEY);
}

let refreshing = null;
let refusal = null; // why the last refresh was refused (the server's words: idle, revoked…)

async function refresh() {
  // One refresh at a time: a refresh token is good once, and a second use ends the whole session.
  if (!refreshing) {
    refreshing = (async () => {
      refusal = null;
      if (!session.refresh) return false;
      const response = await fetch("/api/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
        body: JSON.stringify({ refresh_token: session.refresh }),
      });
      if (!response.ok) {
        refusal = await errorOf(response);
        forget();
        return false;
      }
      keep(await response.json());
      return true;
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

function url(path, query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") params.set(name, value);
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function errorOf(response) {
  let envelope = null;
  try {
    envelope = (await response.json()).error;
  } catch {
    envelope = null;
  }
  if (!envelope) return new ApiError(response.status, "http_error", `请求未能完成（${response.status}）`);
  return new ApiError(response.status, envelope.code, envelope.message, envelope.details);
}

// `call("POST", "/api/cases", {body})`: the parsed answer (null for 204), or an ApiError.
// `raw: true` returns the Response itself (files); `upload` sends a File with its own type.
export async function call(method, path, { body, query, raw = false, upload = null } = {}) {
  const headers = {};
  let payload;
  if (upload) {
    headers["Content-Type"] = upload.type || "application/octet-stream";
    payload = upload;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  // The same key on the retry after a refresh: the server gives the first answer, not a second case.
  if (method === "POST") headers["Idempotency-Key"] = crypto.randomUUID();
  const send = () => {
    if (session.access) headers.Authorization = `Bearer ${session.access}`;
    return fetch(url(path, query), { method, headers, body: payload, cache: "no-store" });
  };
  let response;
  try {
    if (!session.access && session.refresh) await refresh();
    response = await send();
    if (response.status === 401 && (await refresh())) response = await send();
  } catch {
    throw new ApiError(0, "network", "网络连接失败，请检查网络后重试");
  }
  if (response.status === 401 && path !== "/api/auth/sms/verify") {
    const error = refusal || (await errorOf(response));
    forget();
    signedOut(error.message || "登录已失效，请重新登录");
    throw error;
  }
  if (!response.ok) throw await errorOf(response);
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body, query) => call("POST", path, { body: body ?? {}, query });
export const put = (path, body, query) => call("PUT", path, { body, query });

// A file the API serves behind the token, as an object URL (revoked by the caller when done).
export async function blobUrl(path, query) {
  const response = await call("GET", path, { query, raw: true });
  const blob = await response.blob();
  return { url: URL.createObjectURL(blob), type: blob.type, size: blob.size };
}

// A file saved to the desk's downloads folder under `name`.
export async function download(path, name, query) {
  const file = await blobUrl(path, query);
  const link = document.createElement("a");
  link.href = file.url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(file.url), 60_000);
}

let words = null;

// The server's words for states, categories, actions… (GET /api/vocabulary), fetched once.
export async function vocabulary() {
  if (!words) words = await get("/api/vocabulary");
  return words;
}

let document_ = null;

// The API's own OpenAPI document: forms are built from its request schemas.
export async function openapi() {
  if (!document_) document_ = await get("/api/openapi.json");
  return document_;
}
