// The one place the playground talks to gradd. Every request goes to the
// page's own origin; each call is recorded (route, body, curl line) so the
// page can show what it sent.

const listeners = new Set();

/** Subscribe to every request made: fn({route, body, curl, status, ms}). */
export function onRequest(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function shellQuote(s) {
  return "'" + s.replace(/'/g, "'\\''") + "'";
}

/** The curl line that repeats a request against this daemon. */
export function curlLine(route, body) {
  const url = `${location.origin}${route}`;
  if (body === undefined) return `curl -sS ${shellQuote(url)}`;
  return `curl -sS -H 'Content-Type: application/json' -d ${shellQuote(JSON.stringify(body))} ${shellQuote(url)}`;
}

export class ApiError extends Error {
  constructor(status, info, route) {
    super(info && info.error ? info.error : `HTTP ${status}`);
    this.status = status;
    this.code = info && info.code ? info.code : 'http_' + status;
    this.path = info && typeof info.path === 'string' ? info.path : '';
    this.route = route;
  }
}

/* The ApiError of a fetch that got no answer (e: its exception). */
function networkError(e, timeoutMs, route) {
  const why = e.name === 'AbortError' ? `no answer within ${timeoutMs / 1000} s` : 'the daemon cannot be reached';
  return new ApiError(0, { error: why, code: 'network', path: '' }, route);
}

/* An answer's JSON: its parsed text, or null for no text or text that is
 * not JSON; rejects with ApiError for a status that is not ok. */
function answerOf(res, text, route) {
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, data, route);
  return data;
}

/**
 * POST (or GET when body is undefined) a route of the daemon. Resolves to the
 * parsed JSON; rejects with ApiError carrying the daemon's {error, code, path}.
 */
export async function call(route, body, { timeoutMs = 30000, quiet = false } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  const t0 = performance.now();
  const rec = { route, body, curl: curlLine(route, body), status: 0, ms: 0 };
  let res;
  try {
    res = await fetch(route, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctl.signal,
    });
  } catch (e) {
    clearTimeout(timer);
    rec.ms = performance.now() - t0;
    if (!quiet) listeners.forEach((fn) => fn(rec));
    throw networkError(e, timeoutMs, route);
  }
  clearTimeout(timer);
  rec.status = res.status;
  rec.ms = performance.now() - t0;
  if (!quiet) listeners.forEach((fn) => fn(rec));
  return answerOf(res, await res.text(), route);
}

/**
 * POSTs `body` to `route` asking for a newline-delimited JSON stream
 * (`"stream": true` is the caller's to set). Calls onLine(obj) for every
 * progress line; resolves to the final line (the one that is not progress),
 * or to the whole answer when the daemon did not stream. A final line with
 * "error" rejects with ApiError like a failed call.
 */
export async function callStream(route, body, onLine, { timeoutMs = 120000 } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  const t0 = performance.now();
  const rec = { route, body, curl: curlLine(route, body).replace(/^curl -sS/, 'curl -sS -N'), status: 0, ms: 0 };
  const done = () => {
    clearTimeout(timer);
    rec.ms = performance.now() - t0;
    listeners.forEach((fn) => fn(rec));
  };
  let res;
  try {
    res = await fetch(route, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/x-ndjson, application/json' },
      body: JSON.stringify(body),
      signal: ctl.signal,
    });
  } catch (e) {
    done();
    throw networkError(e, timeoutMs, route);
  }
  rec.status = res.status;
  const type = res.headers.get('Content-Type') || '';
  if (!res.ok || !type.includes('ndjson') || !res.body) {
    const text = await res.text().catch(() => '');
    done();
    return answerOf(res, text, route);
  }
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let last = null;
  const take = (line) => {
    if (!line.trim()) return;
    const obj = JSON.parse(line);
    if (obj && typeof obj === 'object' && 'step' in obj && !('params' in obj) && !('error' in obj)) onLine(obj);
    else last = obj;
  };
  try {
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        take(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
    take(buf);
  } catch (e) {
    done();
    if (e instanceof SyntaxError) throw new ApiError(res.status, { error: `the stream held a line that is not JSON: ${e.message}`, code: 'bad_stream', path: '' }, route);
    throw new ApiError(0, { error: 'the stream broke off', code: 'network', path: '' }, route);
  }
  done();
  if (last && last.error) throw new ApiError(res.status, last, route);
  if (!last) throw new ApiError(res.status, { error: 'the stream ended without a final line', code: 'bad_stream', path: '' }, route);
  return last;
}
