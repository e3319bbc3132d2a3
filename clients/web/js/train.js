// The training view: an MLP on a 2-D toy set, trained through /v1/step with
// several minibatches ("batches") per request. The service is stateless:
// each request carries the params and optimizer state the previous one
// returned.

import { call, onRequest } from './api.js';
import { makeDataset, rng, gauss } from './datasets.js';
import { drawBoundary, drawLoss, predict } from './plots.js';
import { h, showRequests, showError, markBad } from './ui.js';
import { fmtNum } from './format.js';

const $ = (id) => document.getElementById(id);

const S = {
  set: 'spiral',
  opt: 'adam',
  data: null,
  widths: [],
  activation: 'tanh',
  params: null,
  state: null,
  losses: [],
  running: false,
  busy: false,
  requests: 0,
  msTotal: 0,
  order: [],
  cursor: 0,
  rand: rng(11),
};

function parseLayers() {
  const text = $('layers').value.trim();
  if (!text) return [];
  const ws = text.split(/[,\s]+/).filter(Boolean).map(Number);
  if (ws.some((w) => !Number.isInteger(w) || w < 1 || w > 256) || ws.length > 6) return null;
  return ws;
}

function graphFor(widths, activation) {
  const dims = [2, ...widths, 2];
  const params = {};
  const nodes = [];
  let prev = 'X';
  for (let l = 1; l < dims.length; l++) {
    params[`W${l}`] = [dims[l - 1], dims[l]];
    params[`b${l}`] = [dims[l]];
    const last = l === dims.length - 1;
    const name = last ? 'logits' : `h${l}`;
    const affine = `${prev} @ W${l} + b${l}`;
    nodes.push({ name, expr: last ? affine : `${activation}(${affine})` });
    prev = name;
  }
  nodes.push({ name: 'loss', op: 'cross_entropy', inputs: ['logits', 'y'] });
  return { inputs: { X: [-1, 2], y: [-1] }, params, nodes, loss: 'loss' };
}

function initParams(widths, activation, seed) {
  const dims = [2, ...widths, 2];
  const rand = rng(seed);
  const params = {};
  for (let l = 1; l < dims.length; l++) {
    const fanIn = dims[l - 1];
    const fanOut = dims[l];
    const scale = activation === 'relu' ? Math.sqrt(2 / fanIn) : Math.sqrt(2 / (fanIn + fanOut));
    params[`W${l}`] = Array.from({ length: fanIn }, () => Array.from({ length: fanOut }, () => scale * gauss(rand)));
    params[`b${l}`] = new Array(fanOut).fill(0);
  }
  return params;
}

function num(id) {
  const t = $(id).value.trim();
  if (t === '') return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : t;
}

function optimizer() {
  const o = { name: S.opt, lr: num('lr') };
  const wd = num('weight-decay');
  if (wd) o.weight_decay = wd;
  if (S.opt === 'sgd') {
    const m = num('momentum');
    if (m) o.momentum = m;
    if ($('nesterov').checked) o.nesterov = true;
  } else {
    o.beta1 = num('beta1');
    o.beta2 = num('beta2');
  }
  return o;
}

function shuffle() {
  S.order = S.data.X.map((_, i) => i);
  for (let i = S.order.length - 1; i > 0; i--) {
    const j = Math.floor(S.rand() * (i + 1));
    [S.order[i], S.order[j]] = [S.order[j], S.order[i]];
  }
  S.cursor = 0;
}

function nextBatch(size) {
  const X = [];
  const y = [];
  for (let k = 0; k < size; k++) {
    if (S.cursor >= S.order.length) shuffle();
    const i = S.order[S.cursor++];
    X.push(S.data.X[i]);
    y.push(S.data.y[i]);
  }
  return { X, y };
}

function probs(pts) {
  return predict(S.params, S.widths.length + 1, S.activation, pts);
}

function redraw() {
  drawBoundary($('boundary'), S.data, S.params ? probs : null);
  drawLoss($('loss-plot'), S.losses);
  const lp = $('loss-plot');
  lp.dataset.steps = String(S.losses.length);
  if (S.losses.length) {
    // What the curve starts and ends at: the mean of the first 5 and the last 20 steps.
    const avg = (a) => a.reduce((s, v) => s + v, 0) / a.length;
    lp.dataset.firstLoss = String(avg(S.losses.slice(0, Math.min(5, S.losses.length))));
    lp.dataset.lastLoss = String(avg(S.losses.slice(-Math.min(20, S.losses.length))));
  }
  $('st-steps').textContent = String(S.losses.length);
  $('st-loss').textContent = S.losses.length ? fmtNum(S.losses[S.losses.length - 1], 4) : '–';
  if (S.params) {
    const p = probs(S.data.X);
    let right = 0;
    p.forEach((v, i) => (right += (v > 0.5 ? 1 : 0) === S.data.y[i] ? 1 : 0));
    $('st-acc').textContent = `${((100 * right) / p.length).toFixed(1)}%`;
    $('st-acc').dataset.value = String(right / p.length);
  }
  $('st-reqs').textContent = String(S.requests);
  $('st-ms').textContent = S.requests ? `${(S.msTotal / S.requests).toFixed(0)} ms` : '–';
}

/** New data, new network, new params: everything from the controls. */
function reset() {
  stopTraining();
  const widths = parseLayers();
  markBad($('view-train'), widths ? null : $('layers'));
  if (!widths) {
    showError($('train-error'), new Error('hidden layers: up to 6 widths between 1 and 256, e.g. "16, 16"'), null);
    return;
  }
  showError($('train-error'), null);
  S.widths = widths;
  S.activation = $('activation').value;
  const n = Math.max(20, Math.min(2000, Number($('n-points').value) || 300));
  const noise = Math.max(0, Math.min(1, Number($('noise').value) || 0));
  S.data = makeDataset(S.set, n, noise);
  S.params = initParams(widths, S.activation, 3);
  S.state = null;
  S.losses = [];
  S.requests = 0;
  S.msTotal = 0;
  S.rand = rng(11);
  shuffle();
  const dims = [2, ...widths, 2];
  const count = dims.slice(1).reduce((s, d, i) => s + d * dims[i] + d, 0);
  $('arch').textContent = `${dims.join(' → ')}  ·  ${count} params  ·  ${S.activation}, softmax cross-entropy`;
  redraw();
}

const FIELD = { lr: 'lr', momentum: 'momentum', nesterov: 'nesterov', weight_decay: 'weight-decay', beta1: 'beta1', beta2: 'beta2' };

async function stepOnce() {
  if (S.busy) return false;
  S.busy = true;
  $('train-step').disabled = true;
  const k = Math.max(1, Math.min(200, Math.floor(Number($('steps-per-req').value) || 1)));
  const size = Math.max(1, Math.min(2000, Math.floor(Number($('batch-size').value) || 32)));
  const body = {
    graph: graphFor(S.widths, S.activation),
    params: S.params,
    optimizer: optimizer(),
    batches: Array.from({ length: k }, () => nextBatch(size)),
  };
  if (S.state) body.state = S.state;
  const records = [];
  const off = onRequest((r) => records.push(r));
  let ok = false;
  try {
    const t0 = performance.now();
    const res = await call('/v1/step', body, { timeoutMs: 60000 });
    S.msTotal += performance.now() - t0;
    S.requests++;
    S.params = res.params;
    S.state = res.state;
    S.losses.push(...res.losses.map(Number));
    showError($('train-error'), null);
    markBad($('view-train'), null);
    ok = true;
  } catch (err) {
    stopTraining();
    showError($('train-error'), err, body);
    const m = /^\/optimizer\/(\w+)/.exec(err.path || '');
    markBad($('view-train'), m && FIELD[m[1]] ? $(FIELD[m[1]]) : null);
  } finally {
    off();
    showRequests($('train-requests'), records.map((r) => ({ ...r, title: `${k} steps of ${size} points` })));
    S.busy = false;
    $('train-step').disabled = false;
    redraw();
  }
  return ok;
}

async function loop() {
  while (S.running) {
    const ok = await stepOnce();
    if (!ok) break;
    await new Promise((r) => setTimeout(r, 30));
  }
}

export function stopTraining() {
  S.running = false;
  const b = $('train-toggle');
  if (b) b.textContent = 'Train';
}

function startTraining() {
  if (S.running) return;
  S.running = true;
  $('train-toggle').textContent = 'Pause';
  loop();
}

function seg(containerId, attr, onPick) {
  const box = $(containerId);
  box.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (!b) return;
    box.querySelectorAll('button').forEach((x) => x.classList.toggle('on', x === b));
    onPick(b.dataset[attr]);
  });
}

function showOptFields() {
  document.querySelectorAll('.opt-sgd').forEach((e) => (e.hidden = S.opt !== 'sgd'));
  document.querySelectorAll('.opt-adam').forEach((e) => (e.hidden = S.opt !== 'adam'));
}

export function initTrainView() {
  seg('dataset', 'set', (name) => {
    S.set = name;
    reset();
  });
  seg('opt-name', 'opt', (name) => {
    S.opt = name;
    S.state = null; // the other optimizer's state does not carry over
    $('lr').value = name === 'sgd' ? '0.1' : '0.03';
    showOptFields();
  });
  for (const id of ['n-points', 'noise', 'layers', 'activation']) $(id).addEventListener('change', reset);
  $('train-toggle').addEventListener('click', () => (S.running ? stopTraining() : startTraining()));
  $('train-step').addEventListener('click', () => stepOnce());
  $('train-reset').addEventListener('click', reset);
  showOptFields();
  reset();
  $('train-requests').append(h('p', { class: 'note' }, 'Nothing sent yet.'));
}
