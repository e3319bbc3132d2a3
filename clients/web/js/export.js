// Exports: the drawing as SVG and PNG, JSON files, and a request as the
// curl, Python and JavaScript code that repeats it.

import { curlLine } from './api.js';
import { h, copyText } from './ui.js';
import { GRAPH_CSS } from './graphdraw.js';
import { svgToPng } from './png.js';

let cssText = null;
/** The drawing's stylesheet as text (fetched once from the page's origin). */
async function graphCss() {
  if (cssText === null) {
    const res = await fetch(GRAPH_CSS);
    if (!res.ok) throw new Error(`the drawing's stylesheet ${GRAPH_CSS}: HTTP ${res.status}`);
    cssText = await res.text();
  }
  return cssText;
}

/** Saves `blob` as a download named `name`. */
export function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function downloadJson(name, value) {
  download(name, new Blob([JSON.stringify(value, null, 1) + '\n'], { type: 'application/json' }));
}

/** The whole drawing (not just the part in view) as a standalone SVG document, its style inlined. */
export async function svgText(svg, ext) {
  const css = await graphCss();
  const copy = svg.cloneNode(true);
  copy.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  copy.setAttribute('viewBox', `${ext.x} ${ext.y} ${ext.width} ${ext.height}`);
  copy.setAttribute('width', String(Math.ceil(ext.width)));
  copy.setAttribute('height', String(Math.ceil(ext.height)));
  copy.removeAttribute('style');
  copy.setAttribute('class', 'graph');
  const style = document.createElementNS('http://www.w3.org/2000/svg', 'style');
  style.textContent = css;
  copy.insertBefore(style, copy.firstChild);
  for (const k of Object.keys(copy.dataset)) delete copy.dataset[k];
  const bg = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
  for (const [k, v] of Object.entries({ x: ext.x, y: ext.y, width: ext.width, height: ext.height, fill: '#fbfcfe' })) bg.setAttribute(k, v);
  copy.insertBefore(bg, copy.querySelector('g.root'));
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(copy);
}

export async function exportSvg(svg, ext, name = 'graph.svg') {
  download(name, new Blob([await svgText(svg, ext)], { type: 'image/svg+xml' }));
}

/** The whole drawing as a PNG image, 2 pixels per unit. */
export async function exportPng(svg, ext, name = 'graph.png') {
  download(name, await svgToPng(svg, ext, 2));
}

/** Python (standard library only) that sends `body` to `route` and prints the answer. */
export function pythonCode(route, body) {
  const json = JSON.stringify(body);
  return [
    'import json, urllib.request',
    '',
    `body = json.loads(${pyString(json)})`,
    'req = urllib.request.Request(',
    `    ${pyString(location.origin + route)},`,
    "    data=json.dumps(body).encode(), headers={'Content-Type': 'application/json'})",
    'with urllib.request.urlopen(req) as res:',
    '    answer = json.load(res)',
    'print(json.dumps(answer, indent=1))',
    '',
  ].join('\n');
}

function pyString(s) {
  // A raw-safe literal: JSON text is valid Python once quotes and backslashes are escaped.
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

/** JavaScript (fetch, Node 18+ or a browser) that sends `body` to `route`. */
export function jsCode(route, body) {
  return [
    `const body = ${JSON.stringify(body)};`,
    `const res = await fetch(${JSON.stringify(location.origin + route)}, {`,
    "  method: 'POST',",
    "  headers: { 'Content-Type': 'application/json' },",
    '  body: JSON.stringify(body),',
    '});',
    'console.log(JSON.stringify(await res.json(), null, 1));',
    '',
  ].join('\n');
}

const LANGS = [
  ['curl', (r, b) => curlLine(r, b) + '\n'],
  ['python', pythonCode],
  ['js', jsCode],
];

/**
 * Fills `box` with a code panel for one request: tabs curl / Python / JS, the
 * code, Copy and Download. Nothing to show when body is null.
 */
export function showCode(box, route, body, baseName = 'request') {
  if (!body) {
    box.replaceChildren(h('p', { class: 'note' }, 'Nothing to export yet.'));
    return;
  }
  let lang = box.dataset.lang || 'curl';
  const pre = h('pre', { class: 'code mono' });
  const tabs = h('div', { class: 'seg code-tabs', role: 'tablist' });
  const texts = Object.fromEntries(LANGS.map(([k, f]) => [k, f(route, body)]));
  const show = () => {
    pre.textContent = texts[lang];
    pre.dataset.lang = lang;
    box.dataset.lang = lang;
    tabs.querySelectorAll('button').forEach((b) => b.classList.toggle('on', b.dataset.lang === lang));
  };
  for (const [k] of LANGS)
    tabs.append(
      h('button', { type: 'button', dataset: { lang: k }, onclick: () => ((lang = k), show()) }, k === 'js' ? 'JavaScript' : k === 'python' ? 'Python' : 'curl'),
    );
  const copy = h('button', { type: 'button', class: 'copy' }, 'Copy');
  copy.addEventListener('click', async () => {
    copy.textContent = (await copyText(texts[lang])) ? 'Copied' : 'Select and copy';
    setTimeout(() => (copy.textContent = 'Copy'), 1500);
  });
  const ext = { curl: 'sh', python: 'py', js: 'mjs' };
  const save = h('button', { type: 'button', class: 'save' }, 'Download');
  save.addEventListener('click', () => download(`${baseName}.${ext[lang]}`, new Blob([texts[lang]], { type: 'text/plain' })));
  box.replaceChildren(h('div', { class: 'code-head' }, tabs, h('span', { class: 'route mono' }, `POST ${route}`), copy, save), pre);
  show();
}
