// The API client: the key the user signed in with (session storage, sent as a bearer header; no
// cookies), JSON errors as ApiError, NDJSON streams read line by line, and what the service offers,
// read from its own OpenAPI document. Every number the dashboard shows comes through here.

const KEY = "encore.key";
const SCOPES = "encore.scopes";
const NDJSON = "application/x-ndjson";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function signedIn() {
  return sessionStorage.getItem(KEY) !== null;
}

/** The scopes of the signed-in key: ["read"], plus "write" and "admin" when it has them. */
export function scopes() {
  return JSON.parse(sessionStorage.getItem(SCOPES) || "[]");
}

export function isAdmin() {
  return scopes().includes("admin");
}

/** Check `key` with GET /v1/key and keep it for this tab; throws ApiError (401, 403) for a wrong key. */
export async function signIn(key) {
  const body = await (await request("/v1/key", { key })).json();
  sessionStorage.setItem(KEY, key);
  sessionStorage.setItem(SCOPES, JSON.stringify(body.scopes));
  return body;
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(SCOPES);
}

/** `path` with the query parameters that have a value (empty strings, null and undefined are left out). */
export function url(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** Path template with its variables filled in, each encoded: ("/v1/users/{user_id}/new", {user_id}). */
export function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(values[name]));
}

async function request(path, { params, method = "GET", body, key, accept, signal } = {}) {
  const headers = { Authorization: `Bearer ${key ?? sessionStorage.getItem(KEY) ?? ""}` };
  if (accept) headers.Accept = accept;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url(path, params), {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit", cache: "no-store",
  });
  if (!response.ok) {
    let code = "error";
    let message = `${response.status} ${response.statusText}`;
    try {
      const error = (await response.json()).error;
      code = error.code;
      message = error.message;
    } catch {
      // not the service's JSON error (a proxy in between): the status line says it
    }
    if ((response.status === 401 || response.status === 403) && !key && method === "GET") {
      // a read refused: the key was changed or withdrawn since sign-in
      signOut();
      window.dispatchEvent(new CustomEvent("encore:signed-out", { detail: message }));
    }
    throw new ApiError(response.status, code, message);
  }
  return response;
}

export async function get(path, params, options = {}) {
  return (await request(path, { ...options, params })).json();
}

export async function post(path, body, options = {}) {
  return (await request(path, { ...options, method: "POST", body })).json();
}

/** The response body as text (an HTML fragment, say). */
export async function text(path, params, options = {}) {
  return (await request(path, { ...options, params })).text();
}

/**
 * Read an NDJSON route to its end: how many lines, the first `keep` of them parsed, and (with
 * `raw`) the whole body. Streams, so a large campaign is counted without holding it as objects;
 * `onFirst(lines)` is called once the first `keep` lines are in (or at the end, with fewer), and
 * `onProgress(count)` after each chunk.
 */
export async function readLines(path, params, { keep = 5, raw = false, signal, onProgress, onFirst } = {}) {
  const response = await request(path, { params, accept: NDJSON, signal });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const first = [];
  const chunks = [];
  let count = 0;
  let pending = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const textChunk = decoder.decode(value, { stream: true });
    if (raw) chunks.push(textChunk);
    pending += textChunk;
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (!line.trim()) continue;
      if (first.length < keep) first.push(JSON.parse(line));
      count += 1;
    }
    if (onFirst && first.length === keep && keep > 0) {
      onFirst(first);
      onFirst = null;
    }
    if (onProgress) onProgress(count);
  }
  if (pending.trim()) {
    if (first.length < keep) first.push(JSON.parse(pending));
    count += 1;
  }
  if (onFirst) onFirst(first);
  return { count, first, body: raw ? chunks.join("") : null };
}

// -- what the service offers, from GET /openapi.json -------------------------------------------
let specPromise = null;

export function spec() {
  specPromise ??= fetch("/openapi.json", { credentials: "omit" }).then((r) => {
    if (!r.ok) throw new ApiError(r.status, "no_openapi", "the service did not give its OpenAPI document");
    return r.json();
  });
  return specPromise;
}

/** The OpenAPI operation of `method path` (a path template), or null when the service lacks it. */
export async function operation(method, path) {
  return (await spec()).paths[path]?.[method.toLowerCase()] ?? null;
}

export async function offers(method, path) {
  return (await operation(method, path)) !== null;
}

/** Query parameters of an operation (name, schema, description), [] when the route is missing. */
export async function queryParameters(method, path) {
  const op = await operation(method, path);
  return (op?.parameters ?? []).filter((p) => p.in === "query");
}

/** GET path templates under `prefix`, in document order. */
export async function pathsUnder(prefix) {
  const paths = (await spec()).paths;
  return Object.keys(paths).filter((p) => p.startsWith(prefix) && paths[p].get);
}

/** Property names of the schema at `names` inside an operation's 200 JSON response (for fields a route may add). */
export async function responseFields(method, path, ...names) {
  const op = await operation(method, path);
  let schema = op?.responses?.["200"]?.content?.["application/json"]?.schema;
  for (const name of names) {
    schema = name === "[]" ? schema?.items : schema?.properties?.[name];
  }
  return new Set(Object.keys(schema?.properties ?? {}));
}

/** Properties of a shared schema (components.schemas[name]), e.g. the catalog Item. */
export async function schemaFields(name) {
  return new Set(Object.keys((await spec()).components?.schemas?.[name]?.properties ?? {}));
}

/**
 * `params` plus `fields=` for the catalog fields a list route can embed (title, price, ...), when
 * the route takes `fields`; unchanged otherwise.
 */
export async function withCatalogFields(path, params) {
  const fields = (await queryParameters("GET", path)).find((p) => p.name === "fields");
  if (!fields) return params;
  const wanted = ["title", "price", "currency", "url", "image_url"];
  const allowed = fields.schema?.items?.enum ?? fields.schema?.enum;
  return { ...params, fields: (allowed ? wanted.filter((f) => allowed.includes(f)) : ["title"]).join(",") };
}
