// Collapsed subexpressions: an operation drawn as one box standing for
// everything that feeds only it.

/**
 * model: {nodes, edges, loss} (from computeGraph); collapsed: Set of op
 * names. Returns {nodes, edges} to draw: the nodes used only by a collapsed
 * node are hidden, the collapsed node has kind 'group' (and `hides`, the
 * number hidden), and edges into hidden nodes from nodes still shown go to
 * the group instead (without an edge adjoint: it is no longer one edge).
 */
export function collapseView(model, collapsed) {
  if (!collapsed || !collapsed.size) return { nodes: model.nodes, edges: model.edges };
  const consumers = new Map(model.nodes.map((n) => [n.name, []]));
  for (const n of model.nodes) if (n.kind === 'op') for (const src of n.inputs) consumers.get(src)?.push(n.name);
  const owner = new Map(); // hidden node -> the collapsed node standing for it
  const index = new Map(model.nodes.map((n, i) => [n.name, i]));
  const byName = new Map(model.nodes.map((n) => [n.name, n]));
  // Outermost first, so a collapsed node inside another's hidden part stays hidden.
  const order = [...collapsed].filter((c) => byName.get(c)?.kind === 'op').sort((a, b) => index.get(b) - index.get(a));
  for (const c of order) {
    if (owner.has(c)) continue;
    const mine = new Set([c]);
    // Walk back in reverse topological order: a node is hidden when all its
    // consumers are c or already hidden under c.
    for (let i = index.get(c) - 1; i >= 0; i--) {
      const u = model.nodes[i];
      if (u.name === model.loss || owner.has(u.name)) continue;
      const cs = consumers.get(u.name);
      if (cs.length && cs.every((w) => mine.has(w))) {
        mine.add(u.name);
        owner.set(u.name, c);
      }
    }
  }
  const top = (name) => {
    let o = name;
    while (owner.has(o)) o = owner.get(o);
    return o;
  };
  const nodes = model.nodes
    .filter((n) => !owner.has(n.name))
    .map((n) => (collapsed.has(n.name) && n.kind === 'op' ? { ...n, kind: 'group', hides: [...owner.values()].filter((o) => o === n.name).length } : n));
  const edges = [];
  for (const e of model.edges) {
    if (owner.has(e.from)) continue;
    const to = top(e.to);
    const same = edges.find((x) => x.from === e.from && x.to === to);
    if (same) {
      delete same.adjoint;
      continue;
    }
    edges.push(to === e.to ? { ...e } : { from: e.from, to, slots: e.slots });
  }
  return { nodes, edges };
}

/** Past this many nodes, shared leaves are drawn once per consumer. */
export const SPLIT_LEAVES_PAST = 25;

/**
 * A leaf (input, param, constant) used by several operations is drawn next
 * to each of them (copies named "name@k", with `copyOf`), rather than once
 * with long edges across the whole drawing. Returns {nodes, edges, base}
 * where base(id) is the model name a drawn id stands for.
 */
export function splitLeaves(view) {
  const consumers = new Map();
  for (const e of view.edges) {
    if (!consumers.has(e.from)) consumers.set(e.from, []);
    consumers.get(e.from).push(e);
  }
  const nodes = [];
  const edges = view.edges.map((e) => ({ ...e }));
  const origin = new Map();
  const byFrom = new Map();
  edges.forEach((e) => {
    if (!byFrom.has(e.from)) byFrom.set(e.from, []);
    byFrom.get(e.from).push(e);
  });
  for (const n of view.nodes) {
    nodes.push(n);
    const out = byFrom.get(n.name) || [];
    if (n.kind === 'op' || n.kind === 'group' || out.length < 2) continue;
    out.slice(1).forEach((e, k) => {
      const id = `${n.name}@${k + 2}`;
      nodes.push({ ...n, name: id, copyOf: n.name });
      origin.set(id, n.name);
      e.from = id;
    });
  }
  return { nodes, edges, base: (id) => origin.get(id) ?? id };
}
