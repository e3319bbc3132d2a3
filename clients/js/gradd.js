// gradd.js -- a client of the gradd gradient service, for browsers and
// Node 20 (ES module, fetch, no dependencies).
//
//   import { Client } from "./gradd.js";
//   const client = new Client("http://localhost:8080");
//   const r = await client.gradient({ graph: "(a+b)*(b+1)", inputs: { a: 2, b: 1 } });
//   r.gradients; // { a: 2, b: 5 }
//
// Each route method takes the request object of the API (see
// api/openapi.yaml) and resolves to the response object. A refused
// request rejects with a GraddError carrying status, code and path; every
// request is aborted after the client's timeout.

export const DEFAULT_TIMEOUT_MS = 30000;

/** A request gradd refused (status 400-504) or that did not reach it
 * (status 0, code "unreachable" or "timeout"). */
export class GraddError extends Error {
  constructor(status, code, path, message, retryAfter = null) {
    super(`${message} (${status} ${code} at "${path}")`);
    this.name = "GraddError";
    this.status = status;
    this.code = code;
    this.path = path;
    this.error = message;
    this.retryAfter = retryAfter;
  }
}

export class Client {
  /**
   * @param {string} url base URL of the daemon, e.g. "http://localhost:8080"
   * @param {{apiKey?: string, timeoutMs?: number}} [options] apiKey is sent as
   *   "Authorization: Bearer <key>"; timeoutMs bounds every request.
   */
  constructor(url, { apiKey = null, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    if (!url) throw new TypeError("gradd: Client needs a URL");
    if (!(timeoutMs > 0)) throw new RangeError("gradd: timeoutMs must be a positive number");
    this.url = String(url).replace(/\/+$/, "");
    this.apiKey = apiKey;
    this.timeoutMs = timeoutMs;
  }

  /** One request: the parsed JSON answer, or a GraddError. */
  async request(method, path, body = undefined, { timeoutMs = this.timeoutMs } = {}) {
    const headers = { Accept: "application/json" };
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const ctl = new AbortController();
    init.signal = ctl.signal;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, timeoutMs);
    try {
      let res;
      try {
        res = await fetch(this.url + path, init);
      } catch (e) {
        if (timedOut) throw new GraddError(0, "timeout", "", `no answer from ${this.url} within ${timeoutMs} ms`);
        throw new GraddError(0, "unreachable", "", `cannot reach ${this.url}: ${e.cause?.code || e.message}`);
      }
      let text;
      try {
        text = await res.text();
      } catch (e) {
        if (timedOut) throw new GraddError(0, "timeout", "", `the answer from ${this.url} took over ${timeoutMs} ms`);
        throw new GraddError(0, "unreachable", "", `reading the answer from ${this.url}: ${e.message}`);
      }
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
      if (!res.ok) {
        const ra = res.headers.get("Retry-After");
        throw new GraddError(
          res.status,
          json?.code ?? `http_${res.status}`,
          json?.path ?? "",
          json?.error ?? (res.statusText || "request failed"),
          ra === null ? null : Number(ra),
        );
      }
      if (json === null) throw new GraddError(res.status, "bad_response", "", "the response is not JSON");
      return json;
    } finally {
      clearTimeout(timer);
    }
  }

  post(route, req, options) {
    return this.request("POST", `/v1/${route}`, req, options);
  }

  /** POST /v1/forward: {values, stats} */
  forward(req, options) { return this.post("forward", req, options); }
  /** POST /v1/gradient: {values, gradients, stats} */
  gradient(req, options) { return this.post("gradient", req, options); }
  /** POST /v1/step: {params, state, losses, stats} */
  step(req, options) { return this.post("step", req, options); }
  /** POST /v1/jvp: {values, tangents, stats} */
  jvp(req, options) { return this.post("jvp", req, options); }
  /** POST /v1/hvp: {values, hvp, stats} */
  hvp(req, options) { return this.post("hvp", req, options); }
  /** POST /v1/check: {values, check, stats} */
  check(req, options) { return this.post("check", req, options); }
  /** POST /v1/gradient-graph: {graph, gradients, stats} */
  gradientGraph(req, options) { return this.post("gradient-graph", req, options); }
  /** GET /v1/ops: {ops} */
  ops(options) { return this.request("GET", "/v1/ops", undefined, options); }
}

// ---- base64 of little-endian floats ------------------------------------

function bytesToBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function base64ToBytes(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function encodeFloats(values, width) {
  const view = new DataView(new ArrayBuffer(values.length * width));
  for (let i = 0; i < values.length; i++) {
    if (width === 8) view.setFloat64(i * 8, values[i], true);
    else view.setFloat32(i * 4, values[i], true);
  }
  return bytesToBase64(new Uint8Array(view.buffer));
}

function decodeFloats(b64, width) {
  const bytes = base64ToBytes(b64);
  if (bytes.length % width) throw new RangeError(`gradd: ${bytes.length} bytes is not a whole number of float${width * 8}s`);
  const view = new DataView(bytes.buffer);
  const n = bytes.length / width;
  const out = width === 8 ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = width === 8 ? view.getFloat64(i * 8, true) : view.getFloat32(i * 4, true);
  return out;
}

/** Float64Array (or any array of numbers) -> base64 of little-endian float64s. */
export function float64ToBase64(values) { return encodeFloats(values, 8); }
/** base64 of little-endian float64s -> Float64Array. */
export function base64ToFloat64(b64) { return decodeFloats(b64, 8); }
/** Float32Array (or any array of numbers) -> base64 of little-endian float32s. */
export function float32ToBase64(values) { return encodeFloats(values, 4); }
/** base64 of little-endian float32s -> Float32Array. */
export function base64ToFloat32(b64) { return decodeFloats(b64, 4); }

/** A {shape, b64} tensor of the API from a Float64Array or Float32Array
 * (row-major; shape defaults to [length]). */
export function b64Tensor(values, shape = [values.length]) {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== values.length) throw new RangeError(`gradd: shape [${shape}] holds ${count} values, not ${values.length}`);
  const b64 = values instanceof Float32Array ? float32ToBase64(values) : float64ToBase64(values);
  return { shape: [...shape], b64 };
}

/** The values of a {shape, b64} tensor of a response: a Float64Array, or a
 * Float32Array when dtype is "float32" (the graph's dtype). */
export function fromB64Tensor(tensor, dtype = "float64") {
  return dtype === "float32" ? base64ToFloat32(tensor.b64) : base64ToFloat64(tensor.b64);
}
