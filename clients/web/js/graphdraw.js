// Draws a computed graph in SVG the way the seeds do: operations as nodes,
// forward values written on the edges (ink), adjoints flowing back along
// them (red), each node's total adjoint under it. Left to right, or top to
// bottom where the page is narrow. The SVG carries its own stylesheet, so
// the same element exports as a standalone file.

import { layoutDag } from './layout.js';
import { fmtTensor as fmtFull, fmtTensorFull, fmtNum, isScalar, shapeOf } from './format.js';
import { collapseView, splitLeaves, SPLIT_LEAVES_PAST } from './collapse.js';
import { shorten } from './exprtext.js';

const NS = 'http://www.w3.org/2000/svg';
/** The smallest font size in the drawing (px at scale 1). */
export const MIN_FONT = 12;

const SYMBOL = {
  add: '+', sub: '−', mul: '×', div: '÷', pow: 'xʸ', neg: '−x', matmul: '@', maximum: 'max', minimum: 'min',
  reciprocal: '1/x', square: 'x²', sqrt: '√x', abs: '|x|', sum: 'Σ', exp: 'eˣ', transpose: 'ᵀ',
};

/** Where the drawing's stylesheet lives (the exports inline it). */
export const GRAPH_CSS = 'graph.css';

function el(tag, attrs = {}, parent = null, text = null) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, v);
  if (text !== null) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function textWidth(s, px) {
  return [...s].length * px * 0.62;
}

const CAPTION_CHARS = 26;

function nodeBox(n) {
  if (n.kind === 'op') {
    const sym = SYMBOL[n.op] ?? n.op;
    const w = Math.max(46, textWidth(sym, 17) + 24);
    return { w, h: 46, label: sym };
  }
  if (n.kind === 'group') {
    const label = shorten(n.expr || n.name, 22);
    return { w: Math.max(60, textWidth(label, 13) + 26), h: 40, label };
  }
  // A constant shows its value (its name is usually generated, like f#3).
  const label = n.kind === 'const' && (typeof n.value === 'number' || typeof n.value === 'string') ? fmtNum(n.value) : n.copyOf ?? n.name;
  const w = Math.max(46, textWidth(label, 15) + 26);
  return { w, h: n.kind === 'const' ? 34 : 40, label };
}

// The caption written over a node: its expression (generated names) or name.
function captionOf(n) {
  if (n.kind === 'op' || n.kind === 'group') return shorten(n.caption || n.name, CAPTION_CHARS);
  if (n.kind === 'param') return 'param';
  return null;
}

// A smooth path through the route points (tangents along the main axis).
function pathThrough(pts, tb) {
  let d = `M${pts[0].x},${pts[0].y}`;
  for (let i = 1; i < pts.length; i++) {
    const p = pts[i - 1];
    const q = pts[i];
    if (tb) {
      const my = (q.y - p.y) / 2;
      d += ` C${p.x},${p.y + my} ${q.x},${q.y - my} ${q.x},${q.y}`;
    } else {
      const mx = (q.x - p.x) / 2;
      d += ` C${p.x + mx},${p.y} ${q.x - mx},${q.y} ${q.x},${q.y}`;
    }
  }
  return d;
}

// The point at fraction t of a route drawn by pathThrough.
function pointOn(pts, t, tb) {
  const seg = Math.min(pts.length - 2, Math.floor(t * (pts.length - 1)));
  const u = t * (pts.length - 1) - seg;
  const p = pts[seg];
  const q = pts[seg + 1];
  const c1 = tb ? { x: p.x, y: p.y + (q.y - p.y) / 2 } : { x: p.x + (q.x - p.x) / 2, y: p.y };
  const c2 = tb ? { x: q.x, y: q.y - (q.y - p.y) / 2 } : { x: q.x - (q.x - p.x) / 2, y: q.y };
  const v = 1 - u;
  const x = v * v * v * p.x + 3 * v * v * u * c1.x + 3 * v * u * u * c2.x + u * u * u * q.x;
  const y = v * v * v * p.y + 3 * v * v * u * c1.y + 3 * v * u * u * c2.y + u * u * u * q.y;
  return { x, y };
}

/**
 * Draws `model` (from computeGraph) into the <svg> `svg`.
 * opts: {showValues, showAdjoints, orient: 'LR' | 'TB', collapsed: Set of
 * op names, reveal: null (everything) or {values, adjoints, tangents: Sets
 * of names, tangentValues: {name: tangent}, current: name}}.
 * Sets the viewBox to the drawing's extent (every node and label inside);
 * returns {x, y, width, height} of that extent.
 */
export function drawGraph(svg, full, opts = {}) {
  const o = { showValues: true, showAdjoints: true, orient: 'LR', reveal: null, ...opts };
  let view = collapseView(full, o.collapsed);
  let model = full;
  let R0 = o.reveal;
  if (view.nodes.length > SPLIT_LEAVES_PAST) {
    // Copies of shared leaves read the numbers of the leaf they stand for.
    const split = splitLeaves(view);
    view = split;
    const copies = split.nodes.filter((n) => n.copyOf);
    const extend = (rec) => {
      if (!rec) return rec;
      const out = { ...rec };
      for (const c of copies) if (rec[c.copyOf] !== undefined) out[c.name] = rec[c.copyOf];
      return out;
    };
    const extendSet = (set) => (set ? { has: (id) => set.has(split.base(id)) } : set);
    model = { ...full, values: extend(full.values), adjoints: extend(full.adjoints), noAdjoint: extendSet(full.noAdjoint) };
    if (R0) R0 = { ...R0, values: extendSet(R0.values), adjoints: extendSet(R0.adjoints), tangents: extendSet(R0.tangents), tangentValues: extend(R0.tangentValues) };
  }
  const tb = o.orient === 'TB';
  // Compact labels (narrow pages): a tensor by its shape; the numbers are in the tooltips and the table.
  const fmtTensor = (v) => (o.compact && v !== undefined && v !== null && !isScalar(v) ? (shapeOf(v).length === 1 ? `[${shapeOf(v)[0]}]` : shapeOf(v).join('×') || '[]') : fmtFull(v));
  const R = R0;
  // Labels not yet known in a step-through are drawn hidden, so the
  // drawing keeps its extent from step to step.
  const showVal = () => o.showValues;
  const showAdj = () => o.showAdjoints && !!model.adjoints;
  const hidVal = (name) => (R && !R.values.has(name) ? ' hid' : '');
  const hidAdj = (name) => (R && !R.adjoints.has(name) ? ' hid' : '');
  svg.replaceChildren();
  svg.classList.add('graph');
  const root = el('g', { class: 'root' }, svg);
  const boxes = new Map(view.nodes.map((n) => [n.name, nodeBox(n)]));
  // Room each node needs across the main axis (its box, caption, adjoint).
  const cross = (n) => {
    const b = boxes.get(n.name);
    if (!tb) return b.h + 30;
    const cap = captionOf(n);
    const adj = model.adjoints?.[n.name];
    return Math.max(b.w, cap ? textWidth(cap, 12) : 0, adj !== undefined ? textWidth('∇ ' + fmtTensor(adj), 12.5) : 0) + 8;
  };
  // Layers far enough apart for the longest edge label.
  let labelPx = 0;
  for (const e of view.edges) {
    for (const v of [model.values[e.from], e.adjoint]) if (v !== undefined) labelPx = Math.max(labelPx, textWidth(fmtTensor(v), 13.5) + 20);
  }
  const widest = Math.max(...[...boxes.values()].map((b) => b.w));
  const tallest = Math.max(...[...boxes.values()].map((b) => b.h));
  const layerGap = tb ? tallest + 110 : Math.max(170, Math.min(340, labelPx + widest + 40));
  const lay = layoutDag(
    view.nodes.map((n) => ({ id: n.name, size: cross(n) })),
    view.edges.map((e) => ({ from: e.from, to: e.to })),
    { layerGap, gap: tb ? 28 : 40 },
  );
  svg.dataset.nodes = String(view.nodes.length);
  svg.dataset.orient = o.orient;

  // Layout coordinates (layer, cross) -> drawing coordinates.
  const at = (p) => (tb ? { x: p.y, y: p.x } : { x: p.x, y: p.y });
  const P = (name) => at(lay.pos.get(name));
  const edgeLayer = el('g', { class: 'edges' }, root);
  const labelLayer = el('g', { class: 'labels' }, root);
  const nodeLayer = el('g', { class: 'nodes' }, root);
  const byName = new Map(view.nodes.map((n) => [n.name, n]));
  // Where edges leave and enter a node (past its caption and adjoint).
  const exitOf = (name) => {
    const p = P(name);
    const b = boxes.get(name);
    return tb ? { x: p.x, y: p.y + b.h / 2 + (model.adjoints?.[name] !== undefined ? 26 : 4) } : { x: p.x + b.w / 2, y: p.y };
  };
  const entryOf = (name) => {
    const p = P(name);
    const b = boxes.get(name);
    return tb ? { x: p.x, y: p.y - b.h / 2 - (captionOf(byName.get(name)) ? 18 : 4) } : { x: p.x - b.w / 2 - 2, y: p.y };
  };

  view.edges.forEach((e, i) => {
    const route = lay.routes[i].map(at);
    route[0] = exitOf(e.from);
    route[route.length - 1] = entryOf(e.to);
    // Top to bottom, an edge coming in from the side is labelled at its
    // start, under its source, and its line leaves from under the labels,
    // so they do not meet the labels of the straight main path.
    const side = tb && route.length === 2 && Math.abs(route[0].x - route[1].x) > 30;
    const pt = side ? { x: route[0].x, y: route[0].y + 16 } : pointOn(route, route.length > 2 ? 0.5 / (route.length - 1) : 0.45, tb);
    if (side && (o.showValues || o.showAdjoints)) route[0] = { x: route[0].x, y: route[0].y + 34 };
    const g = el('g', { class: 'edge', 'data-from': e.from, 'data-to': e.to }, edgeLayer);
    el('path', { d: pathThrough(route, tb), class: 'edge-line', 'marker-end': 'url(#arrow-fwd)' }, g);
    const lab = el('g', { class: 'edge-label', 'data-from': e.from, 'data-to': e.to }, labelLayer);
    const v = model.values[e.from];
    const tip = [];
    if (showVal(e.from) && v !== undefined) {
      el('text', { x: pt.x, y: pt.y - 8, class: 'val' + hidVal(e.from) }, lab, fmtTensor(v));
      tip.push(`${byName.get(e.from)?.expr ?? e.from} = ${fmtTensorFull(v)}`);
    }
    if (showAdj(e.to) && o.showAdjoints && e.adjoint !== undefined && !model.noAdjoint?.has(e.from)) {
      const t = el('text', { x: pt.x, y: pt.y + 9, class: 'adj' + hidAdj(e.to) }, lab, '← ' + fmtTensor(e.adjoint));
      t.dataset.adjoint = typeof e.adjoint === 'number' ? String(e.adjoint) : '';
      tip.push(`flowing back into ${byName.get(e.from)?.expr ?? e.from}: ${fmtTensorFull(e.adjoint)}`);
    }
    if (tip.length) el('title', {}, lab, tip.join('\n'));
  });

  for (const n of view.nodes) {
    const { x, y } = P(n.name);
    const b = boxes.get(n.name);
    const isLoss = n.name === model.loss;
    const pending = R && !R.values.has(n.name) && n.kind !== 'const';
    const cls = `node ${n.kind}${isLoss ? ' loss' : ''}${pending ? ' pending' : ''}${R && R.current === n.name ? ' current' : ''}`;
    const g = el('g', { class: cls, 'data-name': n.name, transform: `translate(${x},${y})` }, nodeLayer);
    const r = n.kind === 'op' ? b.h / 2 : 8;
    if (R && R.current === n.name) el('rect', { x: -b.w / 2 - 9, y: -b.h / 2 - 9, width: b.w + 18, height: b.h + 18, rx: r + 9, class: 'current-ring' }, g);
    if (isLoss) el('rect', { x: -b.w / 2 - 5, y: -b.h / 2 - 5, width: b.w + 10, height: b.h + 10, rx: r + 5, class: 'loss-ring' }, g);
    el('rect', { x: -b.w / 2, y: -b.h / 2, width: b.w, height: b.h, rx: r, class: 'shape' }, g);
    el('text', { x: 0, y: 1, class: n.kind === 'op' || n.kind === 'group' ? 'sym' : 'leaf-name' }, g, b.label);
    const expr = n.expr ?? n.name;
    const tip = [n.kind === 'op' || n.kind === 'group' ? (n.generated ? expr : `${n.name} = ${expr}`) : `${n.kind} ${n.name}`];
    if (n.kind === 'group') tip.push(`collapsed (${n.hides} node${n.hides === 1 ? '' : 's'} inside): click to expand`);
    else if (n.kind === 'op') tip.push('click to collapse this subexpression');
    if (model.values[n.name] !== undefined) tip.push(`value: ${fmtTensorFull(model.values[n.name])}`);
    if (model.adjoints && model.adjoints[n.name] !== undefined) tip.push(`adjoint ∂loss/∂node: ${fmtTensorFull(model.adjoints[n.name])}`);
    if (model.noAdjoint?.has(n.name)) tip.push('no adjoint: it only enters operands without a gradient (labels, indices)');
    el('title', {}, g, tip.join('\n'));
    const cap = captionOf(n);
    const capY = -b.h / 2 - (isLoss ? 13 : 9);
    if (cap) el('text', { x: 0, y: capY, class: 'node-name' }, g, cap);
    else if (n.kind === 'const' && b.label !== n.name && !n.name.includes('#')) el('text', { x: 0, y: capY, class: 'node-name' }, g, n.name);
    const adj = model.adjoints ? model.adjoints[n.name] : undefined;
    if (showAdj(n.name) && adj !== undefined && !model.noAdjoint?.has(n.name)) {
      const t = el('text', { x: 0, y: b.h / 2 + 15, class: 'node-adj' + (R && R.tangents ? ' hid' : hidAdj(n.name)) }, g, `∇ ${fmtTensor(adj)}`);
      t.dataset.adjoint = typeof adj === 'number' ? String(adj) : '';
    }
    if (R && R.tangents && R.tangents.has(n.name) && R.tangentValues) {
      const tv = R.tangentValues[n.name];
      if (tv !== undefined) {
        const t = el('text', { x: 0, y: b.h / 2 + 15, class: 'node-tan' }, g, `ṫ ${fmtTensor(tv)}`);
        t.dataset.tangent = typeof tv === 'number' ? String(tv) : '';
      }
    }
    g.dataset.value = typeof model.values[n.name] === 'number' ? String(model.values[n.name]) : '';
  }

  // The loss leaves with its value and the seed adjoint 1.
  if (model.loss && lay.pos.has(model.loss)) {
    const p0 = exitOf(model.loss);
    const p1 = tb ? { x: p0.x, y: p0.y + 60 } : { x: p0.x + 96, y: p0.y };
    const g = el('g', { class: 'edge out' }, edgeLayer);
    const start = tb ? p0 : { x: p0.x + 6, y: p0.y };
    el('path', { d: `M${start.x},${start.y} L${p1.x},${p1.y}`, class: 'edge-line', 'marker-end': 'url(#arrow-fwd)' }, g);
    const lab = el('g', { class: 'edge-label out', 'data-from': model.loss, 'data-to': '' }, labelLayer);
    const v = model.values[model.loss];
    const mid = tb ? { x: p1.x, y: p1.y + 14 } : { x: (start.x + p1.x) / 2, y: p0.y - 8 };
    const name = byName.get(model.loss)?.generated ? 'loss' : model.loss;
    if (showVal(model.loss) && v !== undefined) el('text', { x: mid.x, y: mid.y, class: 'val out' + hidVal(model.loss) }, lab, `${name} = ${fmtTensor(v)}`);
    if (showAdj(model.loss)) el('text', { x: mid.x, y: tb ? mid.y + 18 : p0.y + 9, class: 'adj' + hidAdj(model.loss) }, lab, `← ${fmtNum(1)}`);
  }

  const defs = el('defs', {}, svg);
  const m = el('marker', { id: 'arrow-fwd', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
  el('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead fwd' }, m);

  // The extent of everything drawn, from the browser's own text metrics.
  let bb;
  try {
    bb = root.getBBox();
  } catch {
    bb = null;
  }
  if (!bb || !bb.width) bb = { x: -80, y: -60, width: lay.width + 300, height: lay.height + 120 };
  const pad = 14;
  const ext = { x: bb.x - pad, y: bb.y - pad, width: bb.width + 2 * pad, height: bb.height + 2 * pad };
  svg.setAttribute('viewBox', `${ext.x} ${ext.y} ${ext.width} ${ext.height}`);
  return ext;
}
