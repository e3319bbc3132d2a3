// The expression text of every node of an expanded graph, so the drawing
// names nodes by what they compute ("a + b", "tanh(x @ W1 + b1)") rather
// than by the names the expansion generated ("f#2").

import { fmtNum } from './format.js';

const INFIX = { add: ['+', 1], sub: ['-', 1], mul: ['*', 2], div: ['/', 2], matmul: ['@', 2], pow: ['**', 4] };
const ATOM = 9;
const MAX_CHARS = 400; // longer texts are cut (shared subgraphs can blow up)

/** A name the expansion made up (the user never wrote it). */
export function isGenerated(name) {
  return name.includes('#');
}

function constText(v) {
  if (typeof v === 'number' || typeof v === 'string') return fmtNum(v, 6).replace(/^−/, '-');
  const s = JSON.stringify(v);
  return s.length > 24 ? s.slice(0, 21) + '…' : s;
}

function attrText(attrs) {
  if (!attrs || typeof attrs !== 'object') return [];
  return Object.entries(attrs).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
}

function cut(s) {
  return s.length > MAX_CHARS ? s.slice(0, MAX_CHARS - 1) + '…' : s;
}

/**
 * nodes: [{name, kind, op, inputs, attrs, value}] in topological order.
 * opts.resultName: the short form's result node ("f"), shown by its
 * expression like the generated ones.
 * Returns Map(name -> {expr, caption, generated}): expr is the node's whole
 * expression (named nodes it uses appear by name), caption what the drawing
 * writes over the node (the expression for generated names, else the name).
 */
export function exprTexts(nodes, opts = {}) {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const full = new Map(); // name -> {text, prec}
  const anon = (name) => isGenerated(name) || name === opts.resultName;
  // How a node appears inside another node's expression.
  const ref = (name) => {
    const n = byName.get(name);
    if (!n) return { text: name, prec: ATOM };
    if (n.kind === 'const') {
      const t = constText(n.value);
      return { text: t, prec: t.startsWith('-') ? 3 : ATOM };
    }
    if (n.kind !== 'op' || !anon(name)) return { text: name, prec: ATOM };
    return full.get(name) || { text: name, prec: ATOM };
  };
  const wrap = (r, need) => (r.prec < need ? `(${r.text})` : r.text);
  for (const n of nodes) {
    if (n.kind !== 'op') continue;
    const args = n.inputs.map(ref);
    const attrs = attrText(n.attrs);
    let out;
    if (INFIX[n.op] && args.length === 2 && !attrs.length) {
      const [sym, p] = INFIX[n.op];
      const right = n.op === 'sub' || n.op === 'div' || n.op === 'matmul' ? p + 1 : p;
      const left = n.op === 'pow' ? p + 1 : p;
      out = { text: `${wrap(args[0], left)} ${sym} ${wrap(args[1], right)}`, prec: p };
    } else if (n.op === 'neg' && args.length === 1) {
      out = { text: `-${wrap(args[0], 3)}`, prec: 3 };
    } else {
      out = { text: `${n.op}(${[...args.map((a) => a.text), ...attrs].join(', ')})`, prec: ATOM };
    }
    full.set(n.name, { text: cut(out.text), prec: out.prec });
  }
  const res = new Map();
  for (const n of nodes) {
    const generated = n.kind === 'op' && anon(n.name);
    const expr = n.kind === 'op' ? full.get(n.name).text : n.kind === 'const' ? constText(n.value) : n.name;
    res.set(n.name, { expr, caption: generated ? expr : n.name, generated });
  }
  return res;
}

/** A text cut to `max` characters with an ellipsis. */
export function shorten(s, max) {
  const chars = [...s];
  return chars.length <= max ? s : chars.slice(0, max - 1).join('') + '…';
}
