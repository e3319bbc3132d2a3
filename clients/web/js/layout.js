// A layered (Sugiyama-style) layout of a DAG, left to right as the seeds
// draw their graphs: layers by longest path, long edges broken by dummy
// points, crossings reduced by barycentre sweeps, then y coordinates pulled
// towards neighbours without overlaps.

/**
 * nodes: [{id, size}] where size is the vertical room the node needs.
 * edges: [{from, to}] (ids). Sources with `pinLeft` stay in layer 0; other
 * sources (constants) sit just left of their first consumer.
 * Returns {pos: Map(id -> {x, y, layer}), routes: [[{x, y}...] per edge], width, height}.
 */
export function layoutDag(nodes, edges, opts = {}) {
  const layerGap = opts.layerGap ?? 170;
  const gap = opts.gap ?? 34;
  const dummySize = opts.dummySize ?? 18;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const succ = new Map(nodes.map((n) => [n.id, []]));
  const pred = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    succ.get(e.from).push(e.to);
    pred.get(e.to).push(e.from);
  }

  // Topological order (Kahn), stable in the given node order.
  const indeg = new Map(nodes.map((n) => [n.id, pred.get(n.id).length]));
  const order = [];
  const queue = nodes.filter((n) => indeg.get(n.id) === 0).map((n) => n.id);
  while (queue.length) {
    const v = queue.shift();
    order.push(v);
    for (const w of succ.get(v)) {
      indeg.set(w, indeg.get(w) - 1);
      if (indeg.get(w) === 0) queue.push(w);
    }
  }
  if (order.length !== nodes.length) throw new Error('the graph has a cycle');

  // Layers: longest path from the sources.
  const layer = new Map();
  for (const v of order) {
    let l = 0;
    for (const u of pred.get(v)) l = Math.max(l, layer.get(u) + 1);
    layer.set(v, l);
  }
  // Unpinned sources move right, next to their nearest consumer.
  for (const v of order) {
    const n = byId.get(v);
    if (pred.get(v).length || n.pinLeft || !succ.get(v).length) continue;
    const l = Math.min(...succ.get(v).map((w) => layer.get(w))) - 1;
    layer.set(v, Math.max(0, l));
  }
  const nLayers = Math.max(0, ...layer.values()) + 1;

  // Chains of dummy vertices for edges longer than one layer.
  const verts = new Map(); // id -> {id, layer, size, dummy}
  for (const n of nodes) verts.set(n.id, { id: n.id, layer: layer.get(n.id), size: n.size ?? 44, dummy: false });
  const up = new Map(); // vertex id -> neighbour ids one layer left
  const down = new Map();
  const link = (a, b) => {
    if (!down.has(a)) down.set(a, []);
    if (!up.has(b)) up.set(b, []);
    down.get(a).push(b);
    up.get(b).push(a);
  };
  const chains = edges.map((e, i) => {
    const chain = [e.from];
    let prev = e.from;
    for (let l = layer.get(e.from) + 1; l < layer.get(e.to); l++) {
      const id = `\u0000d${i}:${l}`;
      verts.set(id, { id, layer: l, size: dummySize, dummy: true });
      link(prev, id);
      chain.push(id);
      prev = id;
    }
    link(prev, e.to);
    chain.push(e.to);
    return chain;
  });

  // Initial order in each layer: the order vertices were met.
  const layers = Array.from({ length: nLayers }, () => []);
  for (const v of verts.values()) layers[v.layer].push(v.id);
  const rank = new Map();
  const renumber = (l) => layers[l].forEach((id, i) => rank.set(id, i));
  layers.forEach((_, l) => renumber(l));

  const bary = (id, nbrs) => {
    const ns = nbrs.get(id) || [];
    if (!ns.length) return rank.get(id);
    return ns.reduce((s, n) => s + rank.get(n), 0) / ns.length;
  };
  // Big graphs (thousands of vertices with the dummies) get fewer passes.
  const big = verts.size > 800;
  for (let sweep = 0; sweep < (big ? 6 : 12); sweep++) {
    const downward = sweep % 2 === 0;
    const seq = downward ? [...Array(nLayers).keys()].slice(1) : [...Array(nLayers).keys()].reverse().slice(1);
    for (const l of seq) {
      const key = new Map(layers[l].map((id) => [id, bary(id, downward ? up : down)]));
      layers[l].sort((a, b) => key.get(a) - key.get(b) || rank.get(a) - rank.get(b));
      renumber(l);
    }
  }

  // y: start stacked, then pull towards neighbours keeping the order and gaps.
  const y = new Map();
  for (const ids of layers) {
    let acc = 0;
    for (const id of ids) {
      const s = verts.get(id).size;
      y.set(id, acc + s / 2);
      acc += s + gap;
    }
    const shift = (acc - gap) / 2;
    for (const id of ids) y.set(id, y.get(id) - shift);
  }
  // Places one layer: nodes in priority order (inner nodes, then dummies,
  // then leaves) each take their wanted y as far as the nodes already placed
  // allow, so the main path keeps its line and the leaves make room.
  const half = (id) => verts.get(id).size / 2;
  const prio = (id) => (verts.get(id).dummy ? 2 : pred.get(id).length ? 3 : 1);
  const settle = (ids, want) => {
    const k = ids.length;
    const placed = new Array(k).fill(null);
    const idx = ids.map((_, i) => i).sort((i, j) => prio(ids[j]) - prio(ids[i]) || i - j);
    // c[i]: the centre of ids[i] if the layer were packed from 0, so the
    // least distance between the centres of ids[j] and ids[i] is c[i] - c[j].
    const c = new Array(k);
    let acc = 0;
    for (let i = 0; i < k; i++) {
      c[i] = acc + half(ids[i]);
      acc += 2 * half(ids[i]) + gap;
    }
    // Segment trees over d[j] = placed[j] - c[j]: the max to the left of i
    // bounds ids[i] from above, the min to its right from below.
    let n = 1;
    while (n < k) n *= 2;
    const mx = new Array(2 * n).fill(-Infinity);
    const mn = new Array(2 * n).fill(Infinity);
    const set = (i, v) => {
      let p = i + n;
      mx[p] = v;
      mn[p] = v;
      for (p >>= 1; p >= 1; p >>= 1) {
        mx[p] = Math.max(mx[2 * p], mx[2 * p + 1]);
        mn[p] = Math.min(mn[2 * p], mn[2 * p + 1]);
      }
    };
    const query = (tree, pick, none, l, r) => {
      // over [l, r)
      let res = none;
      for (l += n, r += n; l < r; l >>= 1, r >>= 1) {
        if (l & 1) res = pick(res, tree[l++]);
        if (r & 1) res = pick(res, tree[--r]);
      }
      return res;
    };
    for (const i of idx) {
      const lo = query(mx, Math.max, -Infinity, 0, i) + c[i];
      const hi = query(mn, Math.min, Infinity, i + 1, k) + c[i];
      const w = want(ids[i]);
      placed[i] = lo > hi ? lo : Math.min(hi, Math.max(lo, w));
      set(i, placed[i] - c[i]);
    }
    ids.forEach((id, i) => y.set(id, placed[i]));
  };
  // A node follows its non-leaf neighbours: the main path stays straight and
  // the leaves (inputs, constants) hang off it, rather than the path
  // bending towards each leaf.
  const isLeaf = (id) => !verts.get(id).dummy && pred.get(id).length === 0;
  const want = (id) => {
    const all = [...(up.get(id) || []), ...(down.get(id) || [])];
    const inner = all.filter((n) => !isLeaf(n));
    const ns = isLeaf(id) || !inner.length ? all : inner;
    return ns.length ? ns.reduce((s, n) => s + y.get(n), 0) / ns.length : y.get(id);
  };
  for (let it = 0; it < (big ? 3 : 8); it++) {
    for (let l = 0; l < nLayers; l++) settle(layers[l], want);
    for (let l = nLayers - 1; l >= 0; l--) settle(layers[l], want);
  }

  // Normalise to a top-left origin.
  let minY = Infinity;
  let maxY = -Infinity;
  for (const v of verts.values()) {
    minY = Math.min(minY, y.get(v.id) - v.size / 2);
    maxY = Math.max(maxY, y.get(v.id) + v.size / 2);
  }
  const pos = new Map();
  const at = (id) => ({ x: verts.get(id).layer * layerGap, y: y.get(id) - minY });
  for (const n of nodes) pos.set(n.id, { ...at(n.id), layer: layer.get(n.id) });
  const routes = chains.map((chain) => chain.map(at));
  return { pos, routes, width: (nLayers - 1) * layerGap, height: maxY - minY, layers: nLayers };
}
