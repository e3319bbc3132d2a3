// Shared pieces of the page: the "requests sent" panel with copyable curl
// lines, and the error box that names the offending field.

const SHOW_CHARS = 700;

export function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) e.append(kid);
  return e;
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = h('textarea', { style: 'position:fixed;left:-9999px;top:0' });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    ta.remove();
    return ok;
  }
}

function kb(n) {
  return n < 1024 ? `${n} bytes` : `${(n / 1024).toFixed(1)} kB`;
}

/** Renders records [{route, curl, status, ms, title}] into `box`. */
export function showRequests(box, records) {
  box.replaceChildren(
    ...records.map((r) => {
      const pre = h('pre', { class: 'curl', dataset: { route: r.route } });
      if (r.curl.length > SHOW_CHARS) {
        pre.append(r.curl.slice(0, SHOW_CHARS), h('span', { class: 'more' }, ` … (${kb(r.curl.length)} in all; Copy takes the whole line)`));
      } else pre.textContent = r.curl;
      const btn = h('button', { type: 'button', class: 'copy' }, 'Copy');
      btn.addEventListener('click', async () => {
        btn.textContent = (await copyText(r.curl)) ? 'Copied' : 'Select and copy';
        setTimeout(() => (btn.textContent = 'Copy'), 1500);
      });
      const ok = r.status >= 200 && r.status < 300;
      return h(
        'div',
        { class: 'req', dataset: { route: r.route, status: String(r.status) } },
        h(
          'div',
          { class: 'req-head' },
          h('span', { class: 'route' }, `POST ${r.route}`),
          h('span', { class: 'st' + (ok ? '' : ' bad') }, r.status ? String(r.status) : 'no answer'),
          r.title ? h('span', { class: 'ms' }, r.title) : null,
          h('span', { class: 'ms' }, `${r.ms.toFixed(0)} ms`),
          btn,
        ),
        pre,
      );
    }),
  );
}

/** The value a JSON pointer (RFC 6901) names in `doc`, or undefined. */
export function resolvePointer(doc, pointer) {
  if (!pointer) return doc;
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let cur = doc;
  for (const p of parts) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = Array.isArray(cur) ? cur[Number(p)] : cur[p];
  }
  return cur;
}

function preview(v) {
  if (v === undefined) return null;
  const s = JSON.stringify(v);
  return s.length > 120 ? s.slice(0, 117) + '…' : s;
}

/** Shows an ApiError (or any Error) in `box`; body is the request sent. */
export function showError(box, err, body) {
  if (!err) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const path = typeof err.path === 'string' ? err.path : '';
  const at = preview(resolvePointer(body, path));
  box.replaceChildren(
    h('div', { class: 'msg' }, err.message),
    h(
      'div',
      { class: 'meta' },
      err.status ? h('span', {}, 'HTTP ', h('code', {}, String(err.status))) : null,
      err.code ? h('span', {}, 'code ', h('code', { class: 'err-code' }, err.code)) : null,
      h('span', {}, 'field ', h('code', { class: 'err-path' }, path || '(the whole request)')),
      at !== null && path ? h('span', {}, 'which is ', h('code', { class: 'err-value' }, at)) : null,
      err.route ? h('span', {}, 'from ', h('code', {}, err.route)) : null,
    ),
  );
  box.hidden = false;
}

/** Marks one element as the offending field, clearing the others in `scope`. */
export function markBad(scope, elem) {
  scope.querySelectorAll('.bad-field').forEach((e) => e.classList.remove('bad-field'));
  if (elem) elem.classList.add('bad-field');
}
