// Stepping through a computation as the seeds teach it: the forward pass
// node by node with values, the reverse pass from the loss's seed adjoint 1
// back to the leaves, then forward-mode tangents of one chosen leaf.

import { fmtTensor } from './format.js';

/**
 * The steps of `model` (from computeGraph), each a description of what is
 * known after it: {phase: 'start'|'forward'|'reverse'|'tangent', node,
 * text, values, adjoints, tangents (Sets of names)}. Tangent steps need
 * model.tangents (filled by the caller) to say their numbers; they are
 * listed whenever a leaf can carry a tangent.
 */
export function buildSteps(model, tangentSeed) {
  const nodes = model.nodes;
  const leaves = nodes.filter((n) => n.kind !== 'op').map((n) => n.name);
  const ops = nodes.filter((n) => n.kind === 'op');
  const label = (n) => (n.generated ? n.expr : n.kind === 'op' ? `${n.name} = ${n.expr}` : n.name);
  const steps = [];
  const values = new Set(leaves);
  const none = new Set();
  steps.push({ phase: 'start', node: null, text: `The leaves are given: ${leaves.filter((l) => !l.includes('#')).join(', ') || 'constants only'}.`, values: new Set(values), adjoints: none, tangents: none });
  ops.forEach((n, i) => {
    values.add(n.name);
    steps.push({
      phase: 'forward',
      node: n.name,
      text: `Forward ${i + 1} of ${ops.length}: ${label(n)} = ${fmtTensor(model.values[n.name])}`,
      values: new Set(values),
      adjoints: none,
      tangents: none,
    });
  });
  if (model.adjoints && model.loss) {
    const order = [...nodes].reverse().filter((n) => model.adjoints[n.name] !== undefined && n.kind !== 'const' && !model.noAdjoint?.has(n.name));
    const adj = new Set();
    order.forEach((n, i) => {
      adj.add(n.name);
      const how = n.name === model.loss ? 'the seed: ∂loss/∂loss = 1' : 'the sum of what flows back from the nodes that use it';
      steps.push({
        phase: 'reverse',
        node: n.name,
        text: `Reverse ${i + 1} of ${order.length}: ∂loss/∂(${label(n)}) = ${fmtTensor(model.adjoints[n.name])} (${how})`,
        values,
        adjoints: new Set(adj),
        tangents: none,
      });
    });
  }
  if (tangentSeed) {
    const tan = new Set(leaves);
    const tv = () => model.tangents;
    steps.push({ phase: 'tangent', node: tangentSeed, text: `Tangents: ṫ ${tangentSeed} = 1, every other leaf 0; each node's tangent is d(node)/d${tangentSeed}.`, values, adjoints: none, tangents: new Set(tan), tv });
    ops.forEach((n, i) => {
      tan.add(n.name);
      steps.push({
        phase: 'tangent',
        node: n.name,
        text: `Tangent ${i + 1} of ${ops.length}: d(${label(n)})/d${tangentSeed}`,
        values,
        adjoints: none,
        tangents: new Set(tan),
        tv,
      });
    });
  }
  return steps;
}

/** Candidate leaves for the tangent: the inputs and params that get an adjoint. */
export function tangentLeaves(model) {
  return model.nodes.filter((n) => (n.kind === 'input' || n.kind === 'param') && !model.noAdjoint?.has(n.name)).map((n) => n.name);
}
