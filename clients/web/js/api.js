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
    const why = e.name === 'AbortError' ? `no answer within ${timeoutMs / 1000} s` : 'the daemon cannot be reached';
    throw new ApiError(0, { error: why, code: 'network', path: '' }, route);
  }
  clearTimeout(timer);
  rec.status = res.status;
  rec.ms = performance.now() - t0;
  if (!quiet) listeners.forEach((fn) => fn(rec));
  let data = null;
  const text = await res.text();
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, data, route);
  return data;
}
