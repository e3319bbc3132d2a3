// From a request (expression or long form, with values) to a drawable graph:
// /v1/gradient-graph expands it into primitive nodes, /v1/gradient with
// "trace" gives every node's value, adjoint (null for labels) and
// expression text (a daemon without "trace": /v1/forward for the values,
// /v1/gradient for the adjoints), /v1/jvp the tangents. Edge adjoints
// (what flows back along one edge) come from the local derivatives of the
// scalar elementwise ops; they are shown only where they add up to the
// node adjoints gradd computed.

import { call } from './api.js';
import { isScalar } from './format.js';
import { exprTexts } from './exprtext.js';

let opsInfo = null;
/** The daemon's op table (GET /v1/ops), fetched once: name -> {no_gradient: [slots]}. */
async function opTable() {
  if (!opsInfo) {
    opsInfo = call('/v1/ops', undefined, { quiet: true })
      .then((r) => new Map((r.ops || []).map((o) => [o.name, o])))
      .catch(() => {
        opsInfo = null;
        return new Map();
      });
  }
  return opsInfo;
}

// Leaves that only ever enter no-gradient operand slots (integer labels,
// indices): they get no adjoint.
function labelLeaves(nodes, ops) {
  const uses = new Map();
  for (const n of nodes) {
    if (n.kind !== 'op') continue;
    const nog = new Set((ops.get(n.op) || {}).no_gradient || []);
    n.inputs.forEach((src, slot) => {
      if (!uses.has(src)) uses.set(src, []);
      uses.get(src).push(nog.has(slot));
    });
  }
  const out = new Set();
  for (const n of nodes) if (n.kind !== 'op' && n.kind !== 'const' && (uses.get(n.name) || []).length && uses.get(n.name).every(Boolean)) out.add(n.name);
  return out;
}

/** The part of a request that every compute route accepts. */
function base(req) {
  const out = { graph: req.graph };
  for (const k of ['dtype', 'inputs', 'params']) if (req[k] !== undefined) out[k] = req[k];
  return out;
}

/**
 * Runs the three calls. Resolves to {graph, nodes, edges, values, adjoints,
 * loss, gradError, requests}; rejects with the ApiError of the first call
 * that fails (the expansion or the forward pass).
 */
export async function computeGraph(req) {
  if (req === null || typeof req !== 'object' || Array.isArray(req))
    throw Object.assign(new Error('the request must be a JSON object'), { code: 'invalid_request', path: '' });
  const expanded = await call('/v1/gradient-graph', { ...base(req), wrt: [] });
  const g = expanded.graph;
  const nodes = [];
  for (const name of Object.keys(g.inputs || {})) nodes.push({ name, kind: 'input', shape: g.inputs[name] });
  for (const name of Object.keys(g.params || {})) nodes.push({ name, kind: 'param', shape: g.params[name] });
  for (const name of Object.keys(g.constants || {})) nodes.push({ name, kind: 'const', value: g.constants[name] });
  for (const n of g.nodes || []) nodes.push({ name: n.name, kind: 'op', op: n.op, inputs: n.inputs || [], attrs: n.attrs });
  const known = new Set(nodes.map((n) => n.name));
  const edges = [];
  for (const n of nodes) {
    if (n.kind !== 'op') continue;
    n.inputs.forEach((src, slot) => {
      if (!known.has(src)) return;
      const same = edges.find((e) => e.from === src && e.to === n.name);
      if (same) same.slots.push(slot);
      else edges.push({ from: src, to: n.name, slots: [slot] });
    });
  }

  const ops = await opTable();
  const noAdjoint = labelLeaves(nodes, ops);
  const texts = exprTexts(nodes, { resultName: typeof req.graph === 'string' ? g.loss : null });
  for (const n of nodes) Object.assign(n, texts.get(n.name));
  // One traced gradient gives every node's value, adjoint and expression
  // text; a daemon without "trace" (or a graph without a scalar loss) takes
  // a forward pass and a gradient instead.
  const values = {};
  let adjoints = null;
  let gradError = null;
  let gradReq = null;
  let fwdReq = null;
  if (g.loss) {
    const traceReq = { ...base(req), trace: true };
    try {
      const res = await call('/v1/gradient', traceReq);
      adjoints = {};
      for (const t of res.trace || []) {
        values[t.node] = t.value;
        if (t.adjoint === null) noAdjoint.add(t.node);
        else adjoints[t.node] = t.adjoint;
        const n = nodes.find((x) => x.name === t.node);
        if (n && n.kind === 'op' && typeof t.expr === 'string') {
          n.expr = t.expr;
          if (n.generated) n.caption = t.expr;
        }
      }
      gradReq = traceReq;
    } catch (e) {
      if (!(e.code === 'unknown_field' && e.path === '/trace')) gradError = e;
      adjoints = null;
    }
  }
  for (const n of nodes) if (n.kind === 'const') values[n.name] = n.value;
  if (!adjoints || nodes.some((n) => values[n.name] === undefined)) {
    fwdReq = { ...base(req), graph: g, outputs: nodes.filter((n) => n.kind !== 'const').map((n) => n.name) };
    const fwd = await call('/v1/forward', fwdReq);
    Object.assign(values, fwd.values);
  }
  if (g.loss && !adjoints) {
    gradReq = {
      ...base(req),
      graph: g,
      wrt: nodes.filter((n) => n.kind !== 'const' && !noAdjoint.has(n.name)).map((n) => n.name),
    };
    try {
      adjoints = (await call('/v1/gradient', gradReq)).gradients;
      gradError = null;
    } catch (e) {
      gradError = e;
    }
  }
  const byName = new Map(nodes.map((n) => [n.name, n]));
  if (adjoints) edgeAdjoints(edges, byName, values, adjoints);
  return { graph: g, nodes, edges, values, adjoints, loss: g.loss, gradError, noAdjoint, requests: { fwdReq, gradReq }, base: base(req) };
}

function onesLike(v) {
  return Array.isArray(v) ? v.map(onesLike) : 1;
}

/**
 * Forward-mode tangents of every node with the tangent of leaf `seed` set
 * to ones (all other leaves 0), through /v1/jvp. Resolves to {name: tangent}.
 */
export async function computeTangents(model, seed) {
  const body = {
    ...model.base,
    graph: model.graph,
    tangents: { [seed]: onesLike(model.values[seed]) },
    outputs: model.nodes.filter((n) => n.kind !== 'const').map((n) => n.name),
  };
  const res = await call('/v1/jvp', body);
  return res.tangents;
}

// d(op)/d(operand slot) at scalar values; y is the op's own value. null: unknown.
function localPartial(op, slot, args, y) {
  const [a, b] = args;
  switch (op) {
    case 'add': return 1;
    case 'sub': return slot === 0 ? 1 : -1;
    case 'mul': return slot === 0 ? b : a;
    case 'div': return slot === 0 ? 1 / b : -a / (b * b);
    case 'pow': return slot === 0 ? b * Math.pow(a, b - 1) : a > 0 ? y * Math.log(a) : null;
    case 'maximum': return a === b ? null : (slot === 0) === a > b ? 1 : 0;
    case 'minimum': return a === b ? null : (slot === 0) === a < b ? 1 : 0;
    case 'neg': return -1;
    case 'exp': return y;
    case 'log': return 1 / a;
    case 'sin': return Math.cos(a);
    case 'cos': return -Math.sin(a);
    case 'tanh': return 1 - y * y;
    case 'sigmoid': return y * (1 - y);
    case 'relu': return a > 0 ? 1 : 0;
    case 'softplus': return 1 / (1 + Math.exp(-a));
    case 'sqrt': return 1 / (2 * y);
    case 'abs': return Math.sign(a);
    case 'square': return 2 * a;
    case 'reciprocal': return -y * y;
    default: return null;
  }
}

function close(a, b) {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

// Fills edge.adjoint (the share of the source's adjoint that comes back
// along that edge) where every input is a scalar and the shares of each
// source add up to the adjoint gradd returned for it.
function edgeAdjoints(edges, byName, values, adjoints) {
  for (const e of edges) {
    const dst = byName.get(e.to);
    const args = dst.inputs.map((s) => values[s]);
    const gy = adjoints[e.to];
    if (!args.every((v) => typeof v === 'number') || typeof gy !== 'number' || typeof values[e.to] !== 'number') continue;
    let sum = 0;
    for (const slot of e.slots) {
      const d = localPartial(dst.op, slot, args, values[e.to]);
      if (d === null || !Number.isFinite(d)) {
        sum = null;
        break;
      }
      sum += d * gy;
    }
    if (sum !== null) e.adjoint = sum;
  }
  const bySrc = new Map();
  for (const e of edges) {
    if (!bySrc.has(e.from)) bySrc.set(e.from, []);
    bySrc.get(e.from).push(e);
  }
  for (const [src, out] of bySrc) {
    const total = adjoints[src];
    const ok = isScalar(total) && out.every((e) => e.adjoint !== undefined) && close(out.reduce((s, e) => s + e.adjoint, 0), total);
    if (!ok) for (const e of out) delete e.adjoint;
    // A lone edge carries the whole adjoint of its source, whatever its shape.
    if (out.length === 1 && total !== undefined) out[0].adjoint = total;
  }
}
