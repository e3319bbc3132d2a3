// The graph view: an expression with an inputs editor, or a whole JSON
// request; the worked examples of the seeds; the drawing (zoom, pan, fit,
// left-to-right or top-to-bottom, click an operation to collapse its
// subexpression), the step-through, the exports, the node table, the
// requests sent and the errors.

import { onRequest } from './api.js';
import { EXAMPLES } from './examples.js';
import { computeGraph, computeTangents } from './graphmodel.js';
import { drawGraph, MIN_FONT } from './graphdraw.js';
import { fmtTensor, fmtTensorFull } from './format.js';
import { h, showRequests, showError, markBad } from './ui.js';
import { Viewport } from './viewport.js';
import { buildSteps, tangentLeaves } from './stepper.js';
import { exportSvg, exportPng, showCode } from './export.js';

const $ = (id) => document.getElementById(id);

let mode = 'expr';
let current = null; // the example shown, if any
let lastModel = null;
let runSeq = 0;
let viewport = null;
let extent = null; // the drawing's extent, for fit and export
let collapsed = new Set();
let steps = null; // the step-through, when on
let stepAt = 0;

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
      h('td', { title: n.name }, n.name.includes('#') || n.generated ? n.expr : n.name),
      h('td', { class: 'kind' }, n.kind === 'op' ? n.op : n.kind),
      h('td', { class: 'v' }, model.values[n.name] === undefined ? '' : fmtTensorFull(model.values[n.name])),
      h('td', { class: 'g' }, model.noAdjoint.has(n.name) ? '(none: a label)' : model.adjoints && model.adjoints[n.name] !== undefined ? fmtTensorFull(model.adjoints[n.name]) : ''),
    ),
  );
  t.replaceChildren(h('thead', {}, head), h('tbody', {}, ...rows));
}

// The orientation to draw in: left to right unless the page is too narrow
// for it at a legible scale and top to bottom does better.
function orientFor(svg, model, opts) {
  const want = $('orient').value;
  if (want !== 'auto') return { orient: want, ext: drawGraph(svg, model, { ...opts, orient: want }) };
  // Left to right needs at least 170 px per layer: skip it when that cannot fit.
  const depth = new Map();
  for (const n of model.nodes) depth.set(n.name, n.kind === 'op' ? 1 + Math.max(0, ...n.inputs.map((i) => depth.get(i) ?? 0)) : 0);
  const layers = Math.max(0, ...depth.values());
  if (!opts.collapsed?.size && layers * 170 * Math.min(1, viewport.minScale * 1.1) > viewport.availableWidth()) return orientTB(svg, model, opts);
  const lr = drawGraph(svg, model, { ...opts, orient: 'LR' });
  if (viewport.fitScale(lr) >= Math.min(1, viewport.minScale * 1.1)) return { orient: 'LR', ext: lr };
  return orientTB(svg, model, opts);
}

// Top to bottom, with tensors labelled by their shapes if the numbers make it too wide.
function orientTB(svg, model, opts) {
  const tb = drawGraph(svg, model, { ...opts, orient: 'TB' });
  if (viewport.fitScale(tb) >= viewport.minScale) return { orient: 'TB', ext: tb };
  // Still too wide: tensors labelled by their shapes.
  const tbc = drawGraph(svg, model, { ...opts, orient: 'TB', compact: true });
  return { orient: 'TB', ext: tbc };
}

function revealNow() {
  if (!steps) return null;
  const st = steps[stepAt];
  return { values: st.values, adjoints: st.adjoints, tangents: st.phase === 'tangent' ? st.tangents : null, tangentValues: lastModel.tangents, current: st.node };
}

/** Draws the last model; keep: keep the zoom and pan (a step, a toggle) rather than fit. */
function redraw(keep = false) {
  if (!lastModel) return;
  const svg = $('graph-svg');
  const opts = { showValues: $('show-values').checked, showAdjoints: $('show-adjoints').checked, collapsed, reveal: revealNow() };
  const saved = keep && viewport.ext ? { scale: viewport.scale, view: { ...viewport.view }, w: viewport.elemW, h: viewport.elemH } : null;
  const { ext } = orientFor(svg, lastModel, opts);
  extent = ext;
  viewport.fit(ext);
  if (saved && saved.w === viewport.elemW) {
    viewport.scale = saved.scale;
    viewport.view = saved.view;
    viewport.apply();
  }
  $('expand-all').hidden = !collapsed.size;
  renderSteps();
}

function renderSteps() {
  const on = !!steps;
  $('step-bar').classList.toggle('on', on);
  $('step-start').hidden = on;
  for (const id of ['step-prev', 'step-next', 'step-exit', 'step-text']) $(id).hidden = !on;
  if (!on) return;
  const st = steps[stepAt];
  let text = st.text;
  if (st.phase === 'tangent' && st.node && lastModel.tangents && lastModel.tangents[st.node] !== undefined && text.startsWith('Tangent '))
    text += ` = ${fmtTensor(lastModel.tangents[st.node])}`;
  $('step-text').textContent = `${stepAt + 1}/${steps.length} · ${text}`;
  $('step-text').dataset.phase = st.phase;
  $('step-text').dataset.node = st.node || '';
  $('step-prev').disabled = stepAt === 0;
  $('step-next').disabled = stepAt === steps.length - 1;
}

function startSteps() {
  if (!lastModel) return;
  const seed = $('tangent-seed').value || null;
  steps = buildSteps(lastModel, seed);
  stepAt = 0;
  redraw(true);
}

let stepping = false;
async function goStep(delta) {
  if (!steps || stepping) return;
  const next = Math.max(0, Math.min(steps.length - 1, stepAt + delta));
  const st = steps[next];
  if (st.phase === 'tangent' && !lastModel.tangents) {
    const model = lastModel;
    $('step-next').disabled = true;
    stepping = true;
    try {
      model.tangents = await computeTangents(model, $('tangent-seed').value);
    } catch (err) {
      showError($('graph-error'), err, null);
      renderSteps();
      return;
    } finally {
      stepping = false;
    }
    if (model !== lastModel || !steps) return;
  }
  stepAt = next;
  redraw(true);
}

function stopSteps() {
  steps = null;
  redraw(true);
}

function fillTangentSeeds(model) {
  const sel = $('tangent-seed');
  const prev = sel.value;
  const names = tangentLeaves(model);
  sel.replaceChildren(...names.map((n) => h('option', { value: n }, `d/d${n}`)));
  if (names.includes(prev)) sel.value = prev;
  $('tangent-wrap').hidden = !names.length;
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
    collapsed = new Set();
    steps = null;
    fillTangentSeeds(model);
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
    const titles = { '/v1/gradient-graph': 'expand into primitive nodes', '/v1/forward': 'every node’s value', '/v1/gradient': 'every node’s value and adjoint (trace)' };
    if (seq === runSeq) {
      showRequests($('graph-requests'), records.map((r) => ({ ...r, title: titles[r.route] })));
      const grad = records.find((r) => r.route === '/v1/gradient');
      const body = grad ? userRequest(grad.body, req) : null;
      showCode($('graph-code'), '/v1/gradient', body, 'gradient');
    }
    svg.dataset.runs = String(seq);
  }
}

// The gradient request as the user would write it: their graph (the
// expression, not its expansion), values, and the names they gave.
function userRequest(sent, req) {
  if (!req || typeof req !== 'object') return sent;
  const out = { ...req };
  const leaves = new Set([...Object.keys(sent.graph.inputs || {}), ...Object.keys(sent.graph.params || {})]);
  if (sent.wrt) out.wrt = sent.wrt.filter((n) => leaves.has(n));
  return out;
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
  viewport = new Viewport($('graph-svg'), $('graph-wrap'), MIN_FONT);
  $('show-values').addEventListener('change', () => redraw(true));
  $('show-adjoints').addEventListener('change', () => redraw(true));
  $('orient').addEventListener('change', () => redraw());
  $('zoom-in').addEventListener('click', () => viewport.zoom(1.25));
  $('zoom-out').addEventListener('click', () => viewport.zoom(0.8));
  $('zoom-fit').addEventListener('click', () => viewport.fit(extent));
  $('expand-all').addEventListener('click', () => {
    collapsed = new Set();
    redraw();
  });
  // A click (not a drag) on an operation collapses or expands its subexpression.
  $('graph-svg').addEventListener('click', (e) => {
    if (viewport.dragged) return;
    const g = e.target.closest('g.node.op, g.node.group');
    if (!g || !lastModel) return;
    const name = g.dataset.name;
    if (collapsed.has(name)) collapsed.delete(name);
    else collapsed.add(name);
    redraw();
  });
  $('step-start').addEventListener('click', startSteps);
  $('step-next').addEventListener('click', () => goStep(1));
  $('step-prev').addEventListener('click', () => goStep(-1));
  $('step-exit').addEventListener('click', stopSteps);
  $('tangent-seed').addEventListener('change', () => {
    if (!lastModel) return;
    lastModel.tangents = null;
    if (steps) startSteps();
  });
  $('graph-card').addEventListener('keydown', (e) => {
    if (!steps || e.target.closest('input, textarea, select')) return;
    if (e.key === 'ArrowRight') goStep(1);
    else if (e.key === 'ArrowLeft') goStep(-1);
  });
  $('export-svg').addEventListener('click', () => extent && exportSvg($('graph-svg'), extent).catch((err) => showError($('graph-error'), err, null)));
  $('export-png').addEventListener('click', () => extent && exportPng($('graph-svg'), extent).catch((err) => showError($('graph-error'), err, null)));
  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => redraw(), 150);
  });
  return showExample(EXAMPLES[0]);
}
