// Draws a computed graph in SVG the way the seeds do: operations as nodes,
// forward values written on the edges (ink), adjoints flowing back along
// them (red, arrow pointing back), each node's total adjoint under it.

import { layoutDag } from './layout.js';
import { fmtTensor, fmtTensorFull, fmtNum } from './format.js';

const NS = 'http://www.w3.org/2000/svg';

const SYMBOL = {
  add: '+', sub: '−', mul: '×', div: '÷', pow: 'xʸ', neg: '−x', matmul: '@', maximum: 'max', minimum: 'min',
  reciprocal: '1/x', square: 'x²', sqrt: '√x', abs: '|x|', sum: 'Σ', exp: 'eˣ', transpose: 'ᵀ',
};

function el(tag, attrs = {}, parent = null, text = null) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, v);
  if (text !== null) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function textWidth(s, px) {
  return [...s].length * px * 0.6;
}

function nodeBox(n) {
  if (n.kind === 'op') {
    const sym = SYMBOL[n.op] ?? n.op;
    const w = Math.max(46, textWidth(sym, 17) + 24);
    return { w, h: 46, label: sym };
  }
  // A constant shows its value (its name is usually generated, like f#3).
  const label = n.kind === 'const' && (typeof n.value === 'number' || typeof n.value === 'string') ? fmtNum(n.value) : n.name;
  const w = Math.max(46, textWidth(label, 15) + 26);
  return { w, h: n.kind === 'const' ? 34 : 40, label };
}

// A smooth path through the route points (horizontal tangents at each).
function pathThrough(pts) {
  let d = `M${pts[0].x},${pts[0].y}`;
  for (let i = 1; i < pts.length; i++) {
    const p = pts[i - 1];
    const q = pts[i];
    const mx = (q.x - p.x) / 2;
    d += ` C${p.x + mx},${p.y} ${q.x - mx},${q.y} ${q.x},${q.y}`;
  }
  return d;
}

// The point and tangent at fraction t of a route drawn by pathThrough.
function pointOn(pts, t) {
  const seg = Math.min(pts.length - 2, Math.floor(t * (pts.length - 1)));
  const u = t * (pts.length - 1) - seg;
  const p = pts[seg];
  const q = pts[seg + 1];
  const mx = (q.x - p.x) / 2;
  const c1 = { x: p.x + mx, y: p.y };
  const c2 = { x: q.x - mx, y: q.y };
  const v = 1 - u;
  const x = v * v * v * p.x + 3 * v * v * u * c1.x + 3 * v * u * u * c2.x + u * u * u * q.x;
  const y = v * v * v * p.y + 3 * v * v * u * c1.y + 3 * v * u * u * c2.y + u * u * u * q.y;
  return { x, y };
}

/**
 * Draws `model` (from computeGraph) into the <svg> `svg`.
 * opts: {showValues, showAdjoints}
 */
export function drawGraph(svg, model, opts = { showValues: true, showAdjoints: true }) {
  svg.replaceChildren();
  const boxes = new Map(model.nodes.map((n) => [n.name, nodeBox(n)]));
  // Layers far enough apart for the longest edge label.
  let labelPx = 0;
  for (const e of model.edges) {
    for (const v of [model.values[e.from], e.adjoint]) if (v !== undefined) labelPx = Math.max(labelPx, textWidth(fmtTensor(v), 13.5) + 20);
  }
  const widest = Math.max(...[...boxes.values()].map((b) => b.w));
  const layerGap = Math.max(170, Math.min(340, labelPx + widest + 40));
  const lay = layoutDag(
    model.nodes.map((n) => ({ id: n.name, size: boxes.get(n.name).h + 26 })),
    model.edges.map((e) => ({ from: e.from, to: e.to })),
    { layerGap, gap: 40 },
  );
  const padL = 40;
  const padT = 34;
  const padR = 150;
  const W = lay.width + padL + padR;
  const H = lay.height + padT + 50;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  // Small graphs are drawn a little larger than life.
  const zoom = W < 900 ? 1.3 : 1;
  svg.dataset.width = String(W);
  svg.setAttribute('width', W * zoom);
  svg.setAttribute('height', H * zoom);
  svg.dataset.nodes = model.nodes.length;

  const defs = el('defs', {}, svg);
  const mk = (id, cls) => {
    const m = el('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
    el('path', { d: 'M0,0 L10,5 L0,10 z', class: cls }, m);
  };
  mk('arrow-fwd', 'arrowhead fwd');
  mk('arrow-adj', 'arrowhead adj');

  const P = (name) => {
    const p = lay.pos.get(name);
    return { x: p.x + padL + boxes.get(name).w / 2, y: p.y + padT };
  };
  const edgeLayer = el('g', { class: 'edges' }, svg);
  const labelLayer = el('g', { class: 'labels' }, svg);
  const nodeLayer = el('g', { class: 'nodes' }, svg);

  model.edges.forEach((e, i) => {
    const route = lay.routes[i].map((p) => ({ x: p.x + padL, y: p.y + padT }));
    const from = P(e.from);
    const to = P(e.to);
    route[0] = { x: from.x + boxes.get(e.from).w / 2, y: from.y };
    route[route.length - 1] = { x: to.x - boxes.get(e.to).w / 2 - 2, y: to.y };
    for (let k = 1; k < route.length - 1; k++) route[k] = { x: route[k].x + boxes.get(e.from).w / 2, y: route[k].y };
    const g = el('g', { class: 'edge', 'data-from': e.from, 'data-to': e.to }, edgeLayer);
    el('path', { d: pathThrough(route), class: 'edge-line', 'marker-end': 'url(#arrow-fwd)' }, g);
    const lab = el('g', { class: 'edge-label', 'data-from': e.from, 'data-to': e.to }, labelLayer);
    const at = pointOn(route, route.length > 2 ? 0.5 / (route.length - 1) : 0.45);
    const v = model.values[e.from];
    const tip = [];
    if (opts.showValues && v !== undefined) {
      el('text', { x: at.x, y: at.y - 7, class: 'val' }, lab, fmtTensor(v));
      tip.push(`${e.from} = ${fmtTensorFull(v)}`);
    }
    if (opts.showAdjoints && e.adjoint !== undefined) {
      const t = el('text', { x: at.x, y: at.y + 17, class: 'adj' }, lab, '← ' + fmtTensor(e.adjoint));
      t.dataset.adjoint = typeof e.adjoint === 'number' ? String(e.adjoint) : '';
      tip.push(`flowing back from ${e.to} into ${e.from}: ${fmtTensorFull(e.adjoint)}`);
    }
    if (tip.length) el('title', {}, lab, tip.join('\n'));
  });

  for (const n of model.nodes) {
    const { x, y } = P(n.name);
    const b = boxes.get(n.name);
    const isLoss = n.name === model.loss;
    const g = el('g', { class: `node ${n.kind}${isLoss ? ' loss' : ''}`, 'data-name': n.name, transform: `translate(${x},${y})` }, nodeLayer);
    const r = n.kind === 'op' ? b.h / 2 : 8;
    if (isLoss) el('rect', { x: -b.w / 2 - 5, y: -b.h / 2 - 5, width: b.w + 10, height: b.h + 10, rx: r + 5, class: 'loss-ring' }, g);
    el('rect', { x: -b.w / 2, y: -b.h / 2, width: b.w, height: b.h, rx: r, class: 'shape' }, g);
    el('text', { x: 0, y: 1, class: n.kind === 'op' ? 'sym' : 'leaf-name' }, g, b.label);
    const tip = [n.kind === 'op' ? `${n.name} = ${n.op}(${n.inputs.join(', ')})` : `${n.kind} ${n.name}`];
    if (model.values[n.name] !== undefined) tip.push(`value: ${fmtTensorFull(model.values[n.name])}`);
    if (model.adjoints && model.adjoints[n.name] !== undefined) tip.push(`adjoint ∂${model.loss}/∂${n.name}: ${fmtTensorFull(model.adjoints[n.name])}`);
    el('title', {}, g, tip.join('\n'));
    const nameY = -b.h / 2 - (isLoss ? 13 : 7);
    if (n.kind === 'op') el('text', { x: 0, y: nameY, class: 'node-name' }, g, n.name);
    else if (n.kind === 'param') el('text', { x: 0, y: nameY, class: 'node-name' }, g, 'param');
    else if (n.kind === 'const' && b.label !== n.name) el('text', { x: 0, y: nameY, class: 'node-name' }, g, n.name);
    const adj = model.adjoints ? model.adjoints[n.name] : undefined;
    if (opts.showAdjoints && adj !== undefined) {
      const t = el('text', { x: 0, y: b.h / 2 + 17, class: 'node-adj' }, g, `∇ ${fmtTensor(adj)}`);
      t.dataset.adjoint = typeof adj === 'number' ? String(adj) : '';
    }
    g.dataset.value = typeof model.values[n.name] === 'number' ? String(model.values[n.name]) : '';
  }

  // The loss leaves to the right with its value and the seed adjoint 1.
  if (model.loss && lay.pos.has(model.loss)) {
    const p = P(model.loss);
    const x0 = p.x + boxes.get(model.loss).w / 2 + 6;
    const g = el('g', { class: 'edge out' }, edgeLayer);
    el('path', { d: `M${x0},${p.y} L${x0 + 96},${p.y}`, class: 'edge-line', 'marker-end': 'url(#arrow-fwd)' }, g);
    const lab = el('g', { class: 'edge-label out', 'data-from': model.loss, 'data-to': '' }, labelLayer);
    const v = model.values[model.loss];
    if (opts.showValues && v !== undefined) el('text', { x: x0 + 48, y: p.y - 7, class: 'val out' }, lab, `${model.loss} = ${fmtTensor(v)}`);
    if (opts.showAdjoints && model.adjoints) el('text', { x: x0 + 48, y: p.y + 17, class: 'adj' }, lab, `← ${fmtNum(1)}`);
  }
  return { width: W, height: H };
}
