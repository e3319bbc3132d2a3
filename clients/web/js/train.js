// The training view: an MLP on a 2-D toy set or an uploaded CSV (with a
// train/test split), trained through /v1/step with several minibatches
// ("batches") per request, streamed ("stream": true, one NDJSON line per
// step drawn as it comes; a daemon refusing the field gets plain requests).
// A loss or param turning NaN/inf ("stopped": "non_finite") stops training
// with a warning. The service is stateless: each request carries the params
// and optimizer state the previous one returned.

import { call, callStream, onRequest } from './api.js';
import { makeDataset, rng, gauss } from './datasets.js';
import { drawBoundary, drawLoss, predict } from './plots.js';
import { h, showRequests, showError, markBad } from './ui.js';
import { fmtNum } from './format.js';
import { parseCsv, split } from './csv.js';
import { downloadJson, showCode } from './export.js';

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
  csv: null, // the uploaded data set {X, y, features, classes, ...}
  train: [], // row indices trained on
  test: [], // row indices held out
  nIn: 2,
  nClasses: 2,
  noStream: false, // the daemon refused "stream": fall back to one answer per request
  lastBody: null,
};

function parseLayers() {
  const text = $('layers').value.trim();
  if (!text) return [];
  const ws = text.split(/[,\s]+/).filter(Boolean).map(Number);
  if (ws.some((w) => !Number.isInteger(w) || w < 1 || w > 256) || ws.length > 6) return null;
  return ws;
}

function graphFor(widths, activation) {
  const dims = [S.nIn, ...widths, S.nClasses];
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
  return { inputs: { X: [-1, S.nIn], y: [-1] }, params, nodes, loss: 'loss' };
}

function initParams(widths, activation, seed) {
  const dims = [S.nIn, ...widths, S.nClasses];
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
  S.order = [...S.train];
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

function act(name, z) {
  if (name === 'relu') return z > 0 ? z : 0;
  if (name === 'sigmoid') return 1 / (1 + Math.exp(-z));
  return Math.tanh(z);
}

/** The class the MLP picks (argmax of the logits) for each row of X. */
function classify(params, X) {
  const nLayers = S.widths.length + 1;
  return X.map((x) => {
    let h = x;
    for (let l = 1; l <= nLayers; l++) {
      const W = params[`W${l}`];
      const b = params[`b${l}`];
      const z = b.map((bj, j) => {
        let s = bj;
        for (let i = 0; i < h.length; i++) s += h[i] * W[i][j];
        return l < nLayers ? act(S.activation, s) : s;
      });
      h = z;
    }
    let best = 0;
    for (let k = 1; k < h.length; k++) if (h[k] > h[best]) best = k;
    return best;
  });
}

function accuracy(rows) {
  if (!rows.length || !S.params) return null;
  const pred = classify(S.params, rows.map((i) => S.data.X[i]));
  let right = 0;
  pred.forEach((c, k) => (right += c === S.data.y[rows[k]] ? 1 : 0));
  return right / rows.length;
}

function showAcc(id, a) {
  $(id).textContent = a === null ? '–' : `${(100 * a).toFixed(1)}%`;
  if (a !== null) $(id).dataset.value = String(a);
  else delete $(id).dataset.value;
}

function redraw() {
  const canvas = $('boundary');
  if (S.nIn === 2 && S.nClasses === 2) drawBoundary(canvas, S.data, S.params ? probs : null);
  else {
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fbfcfe';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = '#5d6880';
    ctx.font = '15px system-ui, "DejaVu Sans", sans-serif';
    ctx.textAlign = 'center';
    ctx.fillText(`${S.nIn} features, ${S.nClasses} classes:`, canvas.width / 2, canvas.height / 2 - 12);
    ctx.fillText('the boundary is drawn for 2 features and 2 classes', canvas.width / 2, canvas.height / 2 + 12);
  }
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
  showAcc('st-acc', accuracy(S.train));
  showAcc('st-test', accuracy(S.test));
  $('st-reqs').textContent = String(S.requests);
  $('st-ms').textContent = S.requests ? `${(S.msTotal / S.requests).toFixed(0)} ms` : '–';
}

// Only the loss curve and the step count, for each streamed line.
let liveFrame = 0;
function redrawLive() {
  if (liveFrame) return;
  liveFrame = requestAnimationFrame(() => {
    liveFrame = 0;
    drawLoss($('loss-plot'), S.losses);
    $('loss-plot').dataset.steps = String(S.losses.length);
    $('st-steps').textContent = String(S.losses.length);
    $('st-loss').textContent = S.losses.length ? fmtNum(S.losses[S.losses.length - 1], 4) : '–';
  });
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
  if (S.set === 'csv' && S.csv) {
    S.data = { X: S.csv.X, y: S.csv.y };
    S.nIn = S.csv.features.length;
    S.nClasses = S.csv.classes.length;
  } else {
    const n = Math.max(20, Math.min(2000, Number($('n-points').value) || 300));
    const noise = Math.max(0, Math.min(1, Number($('noise').value) || 0));
    S.data = makeDataset(S.set === 'csv' ? 'spiral' : S.set, n, noise);
    S.nIn = 2;
    S.nClasses = 2;
  }
  const share = Math.max(0, Math.min(0.9, (Number($('test-share').value) || 0) / 100));
  ({ train: S.train, test: S.test } = split(S.data.X.length, share));
  S.params = initParams(widths, S.activation, 3);
  S.state = null;
  S.losses = [];
  S.requests = 0;
  S.msTotal = 0;
  S.rand = rng(11);
  shuffle();
  showWarn(null);
  document.querySelectorAll('#view-train .toy-only').forEach((e) => (e.hidden = S.set === 'csv' && !!S.csv));
  $('data-info').textContent =
    `${S.train.length} rows to train on, ${S.test.length} held out for the test` +
    (S.set === 'csv' && S.csv ? ` · ${S.csv.features.length} features (standardised), classes ${S.csv.classes.join(', ')}` : '');
  const dims = [S.nIn, ...widths, S.nClasses];
  const count = dims.slice(1).reduce((s, d, i) => s + d * dims[i] + d, 0);
  $('arch').textContent = `${dims.join(' → ')}  ·  ${count} params  ·  ${S.activation}, softmax cross-entropy`;
  redraw();
  showCode($('train-code'), '/v1/step', null);
}

/** The divergence warning (null hides it). */
function showWarn(text) {
  const box = $('train-warn');
  box.hidden = !text;
  box.textContent = text || '';
}

const finiteTree = (v) => (Array.isArray(v) ? v.every(finiteTree) : typeof v === 'number' && Number.isFinite(v));

async function loadCsv(file) {
  try {
    const text = await file.text();
    S.csv = parseCsv(text);
    S.csv.file = file.name;
    S.set = 'csv';
    document.querySelectorAll('#dataset button').forEach((x) => x.classList.toggle('on', x.dataset.set === 'csv'));
    showError($('train-error'), null);
    reset();
  } catch (err) {
    showError($('train-error'), Object.assign(new Error(`${file.name}: ${err.message}`), { code: 'csv', path: '' }), null);
  }
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
  S.lastBody = body;
  const records = [];
  const off = onRequest((r) => records.push(r));
  let ok = false;
  const before = S.losses.length;
  try {
    const t0 = performance.now();
    let res;
    let lines = 0;
    if (!S.noStream) {
      try {
        res = await callStream('/v1/step', { stream: true, ...body }, (line) => {
          S.losses.push(Number(line.loss));
          lines++;
          redrawLive();
        });
      } catch (err) {
        // A daemon without streaming refuses the field: ask again without it.
        if (err.code !== 'unknown_field' || !/^\/(stream|report_every)/.test(err.path)) throw err;
        S.noStream = true;
        records.length = 0;
      }
    }
    if (S.noStream) res = await call('/v1/step', body, { timeoutMs: 60000 });
    S.msTotal += performance.now() - t0;
    S.requests++;
    // How many progress lines the last request streamed (0: it answered at once).
    $('loss-plot').dataset.streamLines = String(lines);
    const losses = (res.losses || []).map(Number);
    S.losses.length = before;
    S.losses.push(...losses);
    const bad = losses.findIndex((v) => !Number.isFinite(v));
    if (res.stopped === 'non_finite' || bad >= 0 || !finiteTree(Object.values(res.params || {}))) {
      const at = res.step ?? res.completed_steps ?? (bad >= 0 ? bad : losses.length);
      const kept = res.stopped === 'non_finite' && finiteTree(Object.values(res.params || {}));
      if (kept) {
        S.params = res.params;
        S.state = res.state;
      }
      showWarn(
        `Training diverged: the loss or a parameter became NaN or infinite at step ${before + Number(at) + (res.stopped === 'non_finite' ? 0 : 1)}` +
          ` (learning rate ${body.optimizer.lr}). ${kept ? 'The params are those of the last finite step.' : 'The params were kept from before this request.'}` +
          ' Lower the learning rate, or press Reset.',
      );
      $('train-warn').dataset.stopped = res.stopped || 'non_finite';
      stopTraining();
    } else {
      S.params = res.params;
      S.state = res.state;
      showWarn(res.stopped === 'deadline' ? `The daemon's deadline cut this request after ${res.completed_steps} steps; training goes on from there.` : null);
      ok = true;
    }
    showError($('train-error'), null);
    markBad($('view-train'), null);
  } catch (err) {
    S.losses.length = before;
    stopTraining();
    showError($('train-error'), err, body);
    const m = /^\/optimizer\/(\w+)/.exec(err.path || '');
    markBad($('view-train'), m && FIELD[m[1]] ? $(FIELD[m[1]]) : null);
  } finally {
    off();
    showRequests($('train-requests'), records.map((r) => ({ ...r, title: `${k} steps of ${size} rows` })));
    showCode($('train-code'), '/v1/step', body, 'step');
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
    if (name === 'csv' && !S.csv) {
      // nothing loaded yet: pick a file (the data set changes once it is read)
      document.querySelectorAll('#dataset button').forEach((x) => x.classList.toggle('on', x.dataset.set === S.set));
      $('csv-file').click();
      return;
    }
    S.set = name;
    reset();
  });
  $('csv-file').addEventListener('change', () => {
    const f = $('csv-file').files[0];
    if (f) loadCsv(f);
    $('csv-file').value = '';
  });
  $('csv-pick').addEventListener('click', () => $('csv-file').click());
  $('test-share').addEventListener('change', reset);
  $('export-params').addEventListener('click', () => {
    if (S.params) downloadJson('params.json', { params: S.params, state: S.state, steps: S.losses.length, architecture: $('arch').textContent });
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
