// Requests to this server: the bearer key, and one error type for both error shapes
// (the OpenAI envelope on /v1, GraphQL errors with extensions.code on /graphql).

const STORAGE_KEY = "chatbot.apiKey";

let apiKey = localStorage.getItem(STORAGE_KEY);
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(message, { status = 0, code = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

export function storedKey() {
  return apiKey;
}

export function rememberKey(key) {
  apiKey = key;
  if (key) localStorage.setItem(STORAGE_KEY, key);
  else localStorage.removeItem(STORAGE_KEY);
}

/** Called with the ApiError whenever the server answers 401 (the key was revoked or is wrong). */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

function headers(key) {
  const out = { "Content-Type": "application/json", Accept: "application/json" };
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

async function errorFrom(response) {
  let message = `${response.status} ${response.statusText}`.trim();
  let code = null;
  try {
    const body = await response.json();
    const err = body.error ?? body.errors?.[0];
    if (err?.message) message = err.message;
    code = err?.code ?? err?.extensions?.code ?? null;
  } catch {
    // Not JSON (a proxy's page): the status line is the best message there is.
  }
  return new ApiError(message, { status: response.status, code });
}

/**
 * fetch() on this server with the key; resolves to the Response when it is 2xx.
 * `key` overrides the stored key (used to try a key before keeping it).
 */
export async function request(path, { method = "GET", body, signal, key = apiKey } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(key),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The server cannot be reached.", { code: "unreachable" });
  }
  if (!response.ok) {
    const err = await errorFrom(response);
    if (response.status === 401 && key && key === apiKey) onUnauthorized(err);
    throw err;
  }
  return response;
}

export async function getJSON(path, options) {
  return (await request(path, options)).json();
}

/** Run a GraphQL operation; returns `data` or throws the first error. */
export async function graphql(query, variables = {}) {
  const body = await getJSON("/graphql", { method: "POST", body: { query, variables } });
  if (body.errors?.length) {
    const first = body.errors[0];
    throw new ApiError(first.message, { status: 200, code: first.extensions?.code ?? null });
  }
  return body.data;
}
