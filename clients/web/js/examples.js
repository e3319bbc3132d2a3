// The worked examples of the seeds (shared/seeds/000..004), one click each.
// Expression examples fill the expression box and the inputs editor; the
// others are full requests in the long graph form, with the seeds' node
// names, and fill the JSON request box.

export const EXAMPLES = [
  {
    id: 'sum-product',
    seed: '000',
    title: 'e = (a+b)(b+1)',
    note: 'Seed 000: c = a+b, d = b+1, e = cd at a = 2, b = 1. Adjoints ∂e/∂a = 2, ∂e/∂b = 5 (b fans out to both sums).',
    expr: '(a+b)*(b+1)',
    inputs: { a: 2, b: 1 },
  },
  {
    id: 'reciprocal-exp',
    seed: '000',
    title: 'f = 1/(y + e^−x)',
    note: 'Seed 000, pathway method, with the seed’s node names a = −x, b = e^a, c = y+b, d = 1/c, at x = 0, y = 1: f = 0.5, ∂f/∂y = −1/c² = −0.25, ∂f/∂x = 0.25.',
    request: {
      graph: {
        inputs: { x: [], y: [] },
        nodes: [
          { name: 'a', op: 'neg', inputs: ['x'] },
          { name: 'b', op: 'exp', inputs: ['a'] },
          { name: 'c', op: 'add', inputs: ['y', 'b'] },
          { name: 'd', op: 'reciprocal', inputs: ['c'] },
        ],
        loss: 'd',
      },
      inputs: { x: 0, y: 1 },
    },
  },
  {
    id: 'relu-square',
    seed: '000',
    title: '[max(wx, 0) − y]² + z',
    note: 'Seed 000, in-class exercise 2 at x = 1, y = 0, z = −2, w = 3: p = 3, r = 3, t = 7; ∇x = 18, ∇w = 6, ∇y = −6, ∇z = 1.',
    expr: '(maximum(w*x, 0) - y)^2 + z',
    inputs: { x: 1, y: 0, z: -2, w: 3 },
  },
  {
    id: 'fan-out',
    seed: '000',
    title: 'w = x² + 3x',
    note: 'Seed 000, exercise 3 (multiple gradients) at x = 2: the two paths give ∇x,1 = 2x = 4 and ∇x,2 = 3, summed to ∇x = 7.',
    expr: 'x^2 + 3*x',
    inputs: { x: 2 },
  },
  {
    id: 'batched',
    seed: '000',
    title: 'Batched: P = XW, … T = S + z',
    note: 'Seed 000, moving from vectors to batches: X is B×N, W is N×H; dW = Xᵀ·dP and dz sums over the batch. The loss is the sum of T.',
    request: {
      graph: {
        inputs: { X: [-1, 3], y: [2], z: [2] },
        params: { W: [3, 2] },
        nodes: [
          { name: 'P', expr: 'X @ W' },
          { name: 'Q', expr: 'maximum(P, 0)' },
          { name: 'R', expr: 'Q - y' },
          { name: 'S', expr: 'R^2' },
          { name: 'T', expr: 'S + z' },
          { name: 'L', op: 'sum', inputs: ['T'] },
        ],
        loss: 'L',
      },
      inputs: { X: [[1, 2, 0], [0, 1, -2]], y: [0.5, 1], z: [1, -1] },
      params: { W: [[1, 0], [0, 1], [1, 1]] },
    },
  },
  {
    id: 'xy-sin',
    seed: '002',
    title: 'z = xy + sin x',
    note: 'Seed 002 (the Var class) at x = 0.5, y = 4.2: z ≈ 2.5794, ∂z/∂x = y + cos x ≈ 5.0776, ∂z/∂y = x = 0.5.',
    expr: 'x*y + sin(x)',
    inputs: { x: 0.5, y: 4.2 },
  },
  {
    id: 'chain',
    seed: '004',
    title: 'h = xy, o = h²',
    note: 'Seed 004, the chain rule at x = 3, y = 2: h = 6, o = 36, ∂o/∂h = 12, ∂o/∂x = 24, ∂o/∂y = 36.',
    request: {
      graph: {
        inputs: { x: [], y: [] },
        nodes: [
          { name: 'h', op: 'mul', inputs: ['x', 'y'] },
          { name: 'o', op: 'square', inputs: ['h'] },
        ],
        loss: 'o',
      },
      inputs: { x: 3, y: 2 },
    },
  },
  {
    id: 'tape',
    seed: '004',
    title: 'f = 5·(a·b)',
    note: 'Seed 004, the gradient tape with a = 2, b = 3: o = ab = 6, f = 30; o.gradient = 5, a.gradient = 15, b.gradient = 10.',
    request: {
      graph: {
        inputs: { a: [], b: [] },
        constants: { five: 5 },
        nodes: [
          { name: 'o', op: 'mul', inputs: ['a', 'b'] },
          { name: 'f', op: 'mul', inputs: ['five', 'o'] },
        ],
        loss: 'f',
      },
      inputs: { a: 2, b: 3 },
    },
  },
  {
    id: 'diamond',
    seed: '004',
    title: 'Diamond: o = (xy·yz)²',
    note: 'Seed 004 at x = 3, y = 2, z = 1: h1 = 6, h2 = 2, h = 12, o = h·h = 144; adjoints h 24, h1 48, h2 144, x 96, y 288, z 288 (y reaches o by two paths).',
    request: {
      graph: {
        inputs: { x: [], y: [], z: [] },
        nodes: [
          { name: 'h1', op: 'mul', inputs: ['x', 'y'] },
          { name: 'h2', op: 'mul', inputs: ['y', 'z'] },
          { name: 'h', op: 'mul', inputs: ['h1', 'h2'] },
          { name: 'o', op: 'mul', inputs: ['h', 'h'] },
        ],
        loss: 'o',
      },
      inputs: { x: 3, y: 2, z: 1 },
    },
  },
  {
    id: 'tf-tape',
    seed: '004',
    title: 'y = x·x, z = y·y',
    note: 'Seed 004, TensorFlow’s GradientTape at x = 3: y = 9, z = 81, dz/dx = 4x³ = 108, dz/dy = 2y = 18.',
    request: {
      graph: {
        inputs: { x: [] },
        nodes: [
          { name: 'y', expr: 'x*x' },
          { name: 'z', expr: 'y*y' },
        ],
        loss: 'z',
      },
      inputs: { x: 3 },
    },
  },
  {
    id: 'relu-layer',
    seed: '003',
    title: 'H = max(0, XW + b)',
    note: 'Seed 003, §6.5.1 example (c): a ReLU layer as a graph (matmul, broadcast add, maximum), here with a sum as the loss and small made-up values.',
    request: {
      graph: {
        inputs: { X: [2, 2] },
        params: { W: [2, 3], b: [3] },
        nodes: [
          { name: 'U', op: 'matmul', inputs: ['X', 'W'] },
          { name: 'A', op: 'add', inputs: ['U', 'b'] },
          { name: 'H', op: 'relu', inputs: ['A'] },
          { name: 'J', op: 'sum', inputs: ['H'] },
        ],
        loss: 'J',
      },
      inputs: { X: [[1, -1], [0.5, 2]] },
      params: { W: [[1, -2, 0.5], [0.5, 1, -1]], b: [0.1, 0, -0.2] },
    },
  },
  {
    id: 'mlp',
    seed: '003',
    title: 'MLP: cross_entropy(tanh(XW₁+b₁)W₂+b₂, y)',
    note: 'A two-layer classifier as one expression: every node is named by its subexpression; the integer labels y get no adjoint (cross_entropy has no gradient for its target). Click an operation to collapse what feeds it.',
    expr: 'cross_entropy(tanh(X @ W1 + b1) @ W2 + b2, y)',
    inputs: {
      X: [[1, 2], [0.5, -1], [-1, 0.5]],
      W1: [[0.1, 0.2, -0.3], [0.4, -0.5, 0.6]],
      b1: [0, 0.1, -0.1],
      W2: [[1, -1], [0.5, 0.5], [-1, 1]],
      b2: [0.1, -0.1],
      y: [0, 1, 1],
    },
  },
];
