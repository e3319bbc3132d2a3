// The graph view: an expression with an inputs editor, or a whole JSON
// request; the worked examples of the seeds; the drawing, the node table,
// the requests sent and the errors.

import { onRequest } from './api.js';
import { EXAMPLES } from './examples.js';
import { computeGraph } from './graphmodel.js';
import { drawGraph } from './graphdraw.js';
import { fmtTensorFull } from './format.js';
import { h, showRequests, showError, markBad } from './ui.js';

const $ = (id) => document.getElementById(id);

let mode = 'expr';
let current = null; // the example shown, if any
let lastModel = null;
let runSeq = 0;

// Names used as values in an expression: identifiers not called as functions
// and not part of a number (1e5).
function exprNames(expr) {
  const names = [];
  const re = /(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()/g;
  let m;
  while ((m = re.exec(expr))) if (!names.includes(m[1])) names.push(m[1]);
  return names;
}

function rowsNow() {
  const out = new Map();
  for (const row of $('inputs-editor').querySelectorAll('.row')) out.set(row.dataset.name, row.querySelector('input').value);
  return out;
}

function setRows(names, values) {
  const box = $('inputs-editor');
  box.replaceChildren(
    ...names.map((name) =>
      h(
        'div',
        { class: 'row', dataset: { name } },
        h('label', { for: `in-${name}`, title: name }, name),
        h('input', { id: `in-${name}`, class: 'mono', spellcheck: 'false', value: values.get(name) ?? '1' }),
      ),
    ),
  );
  if (!names.length) box.append(h('div', { class: 'empty' }, 'No names in the expression.'));
}

function syncRows() {
  setRows(exprNames($('expr').value), rowsNow());
}

function setMode(m) {
  mode = m;
  $('mode-expr').classList.toggle('on', m === 'expr');
  $('mode-json').classList.toggle('on', m === 'json');
  $('form-expr').hidden = m !== 'expr';
  $('form-json').hidden = m !== 'json';
}

function exprRequest() {
  const inputs = {};
  for (const [name, text] of rowsNow()) {
    try {
      inputs[name] = JSON.parse(text);
    } catch {
      const err = new Error(`the value of ${name} is not a number or a JSON list: ${text || '(empty)'}`);
      throw Object.assign(err, { code: 'client', path: `/inputs/${name}` });
    }
  }
  return { graph: $('expr').value, inputs };
}

function jsonRequest() {
  try {
    return JSON.parse($('json').value);
  } catch (e) {
    throw Object.assign(new Error(`the request is not valid JSON: ${e.message}`), { code: 'client', path: '' });
  }
}

// Points the user at the field an error names.
function markField(err) {
  const path = err.path || '';
  const scope = document.getElementById('view-graph');
  if (mode === 'json') {
    const ta = $('json');
    markBad(scope, ta);
    const key = path.split('/').pop();
    if (key) {
      const i = ta.value.indexOf(`"${key}"`);
      if (i >= 0) ta.setSelectionRange(i, i + key.length + 2);
    }
    return;
  }
  const m = /^\/(inputs|params)\/([^/]+)/.exec(path);
  if (m) markBad(scope, $(`in-${m[2]}`));
  else if (path.startsWith('/graph') || path === '') markBad(scope, $('expr'));
  else markBad(scope, null);
}

function renderTable(model) {
  const t = $('node-table');
  const head = h('tr', {}, h('th', {}, 'node'), h('th', {}, 'op'), h('th', {}, 'value'), h('th', {}, `adjoint ∂${model.loss ?? 'loss'}/∂node`));
  const rows = model.nodes.map((n) =>
    h(
      'tr',
      { dataset: { name: n.name } },
      h('td', {}, n.name),
      h('td', { class: 'kind' }, n.kind === 'op' ? `${n.op}(${n.inputs.join(', ')})` : n.kind),
      h('td', { class: 'v' }, model.values[n.name] === undefined ? '' : fmtTensorFull(model.values[n.name])),
      h('td', { class: 'g' }, model.adjoints && model.adjoints[n.name] !== undefined ? fmtTensorFull(model.adjoints[n.name]) : ''),
    ),
  );
  t.replaceChildren(h('thead', {}, head), h('tbody', {}, ...rows));
}

function redraw() {
  if (!lastModel) return;
  const svg = $('graph-svg');
  const size = drawGraph(svg, lastModel, { showValues: $('show-values').checked, showAdjoints: $('show-adjoints').checked });
  // Past a point the drawing scrolls rather than shrinking into unreadable text.
  $('graph-wrap').classList.toggle('wide', size.width * 0.8 > $('graph-wrap').clientWidth);
}

async function run() {
  const seq = ++runSeq;
  const svg = $('graph-svg');
  svg.dataset.state = 'busy';
  const records = [];
  const off = onRequest((r) => records.push(r));
  let req;
  try {
    req = mode === 'expr' ? exprRequest() : jsonRequest();
    const model = await computeGraph(req);
    if (seq !== runSeq) return;
    lastModel = model;
    redraw();
    renderTable(model);
    showError($('graph-error'), model.gradError, model.requests.gradReq);
    markBad(document.getElementById('view-graph'), null);
    if (model.gradError) markField(model.gradError);
    const ops = model.nodes.filter((n) => n.kind === 'op').length;
    $('graph-status').textContent =
      `${ops} primitive op${ops === 1 ? '' : 's'}, ${model.nodes.length - ops} leaves` +
      (model.adjoints ? '' : ' · no adjoints (the graph has no scalar loss)');
    svg.dataset.state = 'done';
  } catch (err) {
    if (seq !== runSeq) return;
    const rec = records.find((r) => r.route === err.route);
    showError($('graph-error'), err, rec ? rec.body : req);
    markField(err);
    svg.dataset.state = 'error';
  } finally {
    off();
    const titles = { '/v1/gradient-graph': 'expand into primitive nodes', '/v1/forward': 'every node’s value', '/v1/gradient': 'every node’s adjoint' };
    if (seq === runSeq) showRequests($('graph-requests'), records.map((r) => ({ ...r, title: titles[r.route] })));
    svg.dataset.runs = String(seq);
  }
}

function showExample(ex) {
  current = ex;
  document.querySelectorAll('#examples button').forEach((b) => b.classList.toggle('on', b.dataset.example === ex.id));
  $('graph-title').textContent = ex.title;
  $('graph-note').textContent = ex.note;
  if (ex.expr !== undefined) {
    setMode('expr');
    $('expr').value = ex.expr;
    setRows(exprNames(ex.expr), new Map(Object.entries(ex.inputs).map(([k, v]) => [k, JSON.stringify(v)])));
  } else {
    setMode('json');
    $('json').value = pretty(ex.request);
  }
  return run();
}

// JSON laid out for reading: anything that fits in a short line stays on one.
function pretty(v, indent = '') {
  const flat = JSON.stringify(v);
  if (flat === undefined || flat.length + indent.length <= 64 || v === null || typeof v !== 'object') return flat;
  const inner = indent + '  ';
  if (Array.isArray(v)) return `[\n${v.map((e) => inner + pretty(e, inner)).join(',\n')}\n${indent}]`;
  const rows = Object.entries(v).map(([k, e]) => `${inner}${JSON.stringify(k)}: ${pretty(e, inner)}`);
  return `{\n${rows.join(',\n')}\n${indent}}`;
}

function userEdit() {
  if (!current) return;
  current = null;
  document.querySelectorAll('#examples button').forEach((b) => b.classList.remove('on'));
  $('graph-title').textContent = 'Computational graph';
  $('graph-note').textContent = '';
}

export function initGraphView() {
  const list = $('examples');
  for (const ex of EXAMPLES) {
    list.append(
      h(
        'li',
        {},
        h('button', { type: 'button', dataset: { example: ex.id }, onclick: () => showExample(ex) }, h('span', { class: `tag s${ex.seed}` }, ex.seed), ex.title),
      ),
    );
  }
  $('mode-expr').addEventListener('click', () => setMode('expr'));
  $('mode-json').addEventListener('click', () => {
    if (mode === 'expr' && !$('json').value.trim()) {
      try {
        $('json').value = pretty(exprRequest());
      } catch {
        /* leave it empty */
      }
    }
    setMode('json');
  });
  $('expr').addEventListener('input', () => {
    syncRows();
    userEdit();
  });
  $('inputs-editor').addEventListener('input', userEdit);
  $('json').addEventListener('input', userEdit);
  $('form-expr').addEventListener('submit', (e) => {
    e.preventDefault();
    run();
  });
  $('form-json').addEventListener('submit', (e) => {
    e.preventDefault();
    run();
  });
  $('json').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    }
  });
  $('show-values').addEventListener('change', redraw);
  $('show-adjoints').addEventListener('change', redraw);
  return showExample(EXAMPLES[0]);
}
