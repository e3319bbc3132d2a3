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
// request is aborted after the client's timeout. A 503 (the daemon's queue
// is full) and a request that reached no daemon are sent again with
// backoff (every gradd route is a pure function, so this is safe).
// stepStream() gives the streamed /v1/step as an async iterator.
// Types: gradd.d.ts.

export const DEFAULT_TIMEOUT_MS = 30000;
export const DEFAULT_RETRIES = 4;

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
  /** Graphs this client uploaded or remembered: ref -> {bytes, contentType}. */
  #graphs = new Map();

  /**
   * @param {string} url base URL of the daemon, e.g. "http://localhost:8080"
   * @param {{apiKey?: string, timeoutMs?: number, retries?: number, backoffMs?: number,
   *   maxBackoffMs?: number}} [options] apiKey is sent as "Authorization: Bearer <key>";
   *   timeoutMs bounds every request; a 503 or a request that reached no
   *   daemon is retried up to `retries` times, waiting backoffMs * 2^k
   *   (at most maxBackoffMs, or the 503's Retry-After when longer).
   */
  constructor(url, { apiKey = null, timeoutMs = DEFAULT_TIMEOUT_MS, retries = DEFAULT_RETRIES, backoffMs = 50,
    maxBackoffMs = 2000 } = {}) {
    if (!url) throw new TypeError("gradd: Client needs a URL");
    if (!(timeoutMs > 0)) throw new RangeError("gradd: timeoutMs must be a positive number");
    if (!(retries >= 0) || !(backoffMs >= 0) || !(maxBackoffMs >= 0)) {
      throw new RangeError("gradd: retries, backoffMs and maxBackoffMs must not be negative");
    }
    this.url = String(url).replace(/\/+$/, "");
    this.apiKey = apiKey;
    this.timeoutMs = timeoutMs;
    this.retries = retries;
    this.backoffMs = backoffMs;
    this.maxBackoffMs = maxBackoffMs;
    /** How the client waits between attempts (replaceable in tests). */
    this.sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  }

  /** Milliseconds before retry number `attempt` (1 = the first): doubling
   * backoff with up to 25% jitter, or a longer Retry-After (seconds). */
  retryDelayMs(attempt, retryAfter = null) {
    let wait = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
    wait += wait * 0.25 * Math.random();
    if (retryAfter !== null && Number.isFinite(retryAfter) && retryAfter * 1000 > wait) {
      wait = Math.min(retryAfter * 1000, 30000);
    }
    return wait;
  }

  /** One request, retried per the client's policy: the parsed JSON answer,
   * or a GraddError. */
  async request(method, path, body = undefined, options = {}) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#requestOnce(method, path, body, options);
      } catch (e) {
        if (!(e instanceof GraddError) || attempt >= this.retries) throw e;
        if (e.status === 503) await this.sleep(this.retryDelayMs(attempt + 1, e.retryAfter));
        else if (e.status === 0 && e.code === "unreachable") await this.sleep(this.retryDelayMs(attempt + 1));
        else throw e;
      }
    }
  }

  /**
   * POST /v1/step with "stream": true, as an async iterator of the answer's
   * lines: progress lines {step, loss, elapsed_ms}, then the final line
   * (params, state, losses, stats, completed_steps, and "stopped" when the
   * daemon stopped early). An error line {error, code, path} throws a
   * GraddError. A daemon that answers in one piece yields just that answer.
   * Retried (503, unreachable) only before the answer starts; timeoutMs
   * bounds the whole stream. A graph {ref} that the replica lacks
   * (graph_not_found), for a graph this client uploaded or remembered, is
   * uploaded there and the request sent once more, as post() does.
   *
   *   for await (const line of client.stepStream({ graph, params, inputs, steps: 100 })) ...
   */
  async *stepStream(req, { timeoutMs = this.timeoutMs, reportEvery = undefined } = {}) {
    const body = { ...req, stream: true };
    if (reportEvery !== undefined) body.report_every = reportEvery;
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; ctl.abort(); }, timeoutMs);
    try {
      let res;
      let reuploaded = false;
      for (let attempt = 0; ; attempt++) {
        try {
          res = await this.#fetchChecked("POST", "/v1/step", body, ctl, () => timedOut, "application/x-ndjson");
          break;
        } catch (e) {
          // a replica without the stored graph: upload it there, send once more
          const g = this.#graphs.get(req?.graph?.ref);
          if (e instanceof GraddError && e.code === "graph_not_found" && g && !reuploaded) {
            reuploaded = true;
            await this.request("POST", "/v1/graphs", g.bytes, { timeoutMs, contentType: g.contentType });
            attempt--; // the resend is not a retry
            continue;
          }
          const again = e instanceof GraddError && attempt < this.retries &&
            (e.status === 503 || (e.status === 0 && e.code === "unreachable"));
          if (!again) throw e;
          await this.sleep(this.retryDelayMs(attempt + 1, e.status === 503 ? e.retryAfter : null));
        }
      }
      if (!(res.headers.get("Content-Type") || "").includes("ndjson")) {
        yield parseJson(await this.#readText(res, () => timedOut), res.status);
        return;
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let pending = "";
      let finished = false;
      const lineOf = (text) => {
        const line = parseJson(text, res.status);
        if (line.error !== undefined) {
          throw new GraddError(line.status ?? 0, line.code ?? "error", line.path ?? "", line.error);
        }
        return line;
      };
      try {
        for (;;) {
          let chunk;
          try {
            chunk = await reader.read();
          } catch (e) {
            if (timedOut) throw new GraddError(0, "timeout", "", `the stream from ${this.url} took over ${timeoutMs} ms`);
            throw new GraddError(0, "unreachable", "", `reading the stream from ${this.url}: ${e.message}`);
          }
          if (chunk.done) break;
          pending += decoder.decode(chunk.value, { stream: true });
          let i;
          while ((i = pending.indexOf("\n")) >= 0) {
            const text = pending.slice(0, i).trim();
            pending = pending.slice(i + 1);
            if (text) yield lineOf(text);
          }
        }
        pending += decoder.decode();
        finished = true;
        if (pending.trim()) yield lineOf(pending.trim());
      } finally {
        reader.releaseLock();
        if (!finished) ctl.abort(); // the caller stopped early: drop the connection
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async #readText(res, timedOut) {
    try {
      return await res.text();
    } catch (e) {
      if (timedOut()) throw new GraddError(0, "timeout", "", `the answer from ${this.url} took too long`);
      throw new GraddError(0, "unreachable", "", `reading the answer from ${this.url}: ${e.message}`);
    }
  }

  /** fetch with the client's headers; a 2xx Response, else a GraddError
   * (the refusal's envelope, or status 0 when no answer came). */
  async #fetchChecked(method, path, body, ctl, timedOut, accept = "application/json") {
    const headers = { Accept: accept };
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    const init = { method, headers, signal: ctl.signal };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(this.url + path, init);
    } catch (e) {
      if (timedOut()) throw new GraddError(0, "timeout", "", `no answer from ${this.url} in time`);
      throw new GraddError(0, "unreachable", "", `cannot reach ${this.url}: ${e.cause?.code || e.message}`);
    }
    if (!res.ok) {
      const text = await this.#readText(res, timedOut);
      let json = null;
      try { json = JSON.parse(text); } catch { json = null; }
      const ra = res.headers.get("Retry-After");
      throw new GraddError(res.status, json?.code ?? `http_${res.status}`, json?.path ?? "",
        json?.error ?? (res.statusText || "request failed"), ra === null ? null : Number(ra));
    }
    return res;
  }

  async #requestOnce(method, path, body = undefined, { timeoutMs = this.timeoutMs, contentType = undefined } = {}) {
    const headers = { Accept: "application/json" };
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = contentType ?? "application/json";
      init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
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

  /** POST /v1/<route>. A request whose graph is {ref} that a replica
   * answers with graph_not_found, for a graph this client uploaded or
   * remembered, uploads the graph there and is sent once more. */
  async post(route, req, options) {
    try {
      return await this.request("POST", `/v1/${route}`, req, options);
    } catch (e) {
      const g = this.#graphs.get(req?.graph?.ref);
      if (!(e instanceof GraddError) || e.code !== "graph_not_found" || !g) throw e;
      await this.request("POST", "/v1/graphs", g.bytes, { ...options, contentType: g.contentType });
      return this.request("POST", `/v1/${route}`, req, options);
    }
  }

  /**
   * The ref a graph has in the graph store ("sha256:<hex of its bytes>"),
   * remembered without uploading it: the first request naming {ref} that a
   * replica answers with graph_not_found uploads it there and is resent.
   * graph: an ONNX model's bytes (Uint8Array or ArrayBuffer) or a long-form
   * graph object (sent as its JSON.stringify).
   */
  async rememberGraph(graph) {
    let bytes, contentType;
    if (graph instanceof ArrayBuffer) graph = new Uint8Array(graph);
    if (graph instanceof Uint8Array) {
      bytes = graph;
      contentType = "application/onnx";
    } else if (graph && typeof graph === "object") {
      bytes = new TextEncoder().encode(JSON.stringify(graph));
      contentType = "application/json";
    } else {
      throw new TypeError("gradd: a stored graph is an ONNX model's bytes or a graph object");
    }
    const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bytes));
    const ref = "sha256:" + Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    this.#graphs.set(ref, { bytes, contentType });
    return ref;
  }

  /** POST /v1/graphs: keep the graph in the daemon's graph store (as
   * rememberGraph takes it); its summary {ref, format, inputs, outputs,
   * params, ops}. Name it in requests as graph: {ref}. */
  async uploadGraph(graph, options = {}) {
    const ref = await this.rememberGraph(graph);
    const g = this.#graphs.get(ref);
    return this.request("POST", "/v1/graphs", g.bytes, { ...options, contentType: g.contentType });
  }

  /** GET /v1/graphs/{ref}: a stored graph's summary. */
  graphSummary(ref, options) { return this.request("GET", `/v1/graphs/${ref}`, undefined, options); }

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
  /** POST /v1/shapes: {shapes} */
  shapes(req, options) { return this.post("shapes", req, options); }
  /** GET /v1/ops: {ops} */
  ops(options) { return this.request("GET", "/v1/ops", undefined, options); }
}

function parseJson(text, status) {
  try {
    const v = JSON.parse(text);
    if (v !== null && typeof v === "object") return v;
  } catch { /* reported below */ }
  throw new GraddError(status, "bad_response", "", "a line of the answer is not a JSON object");
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
  const f32 = values instanceof Float32Array;
  // datatype names the values' width, so the daemon converts them to the graph's dtype
  return { shape: [...shape], b64: f32 ? float32ToBase64(values) : float64ToBase64(values), datatype: f32 ? "FP32" : "FP64" };
}

/** The values of a {shape, b64} tensor of a response: a Float64Array, or a
 * Float32Array when dtype is "float32" (the graph's dtype). */
export function fromB64Tensor(tensor, dtype = "float64") {
  return dtype === "float32" ? base64ToFloat32(tensor.b64) : base64ToFloat64(tensor.b64);
}
