// Number and tensor formatting for labels: short on the drawing, exact in
// tooltips.

/** A number in at most `digits` significant digits, without trailing zeros. */
export function fmtNum(x, digits = 4) {
  if (typeof x === 'string') return x === 'Infinity' ? '∞' : x === '-Infinity' ? '−∞' : x;
  if (typeof x !== 'number') return String(x);
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? '∞' : '−∞';
  if (x === 0) return '0';
  if (Number.isInteger(x) && Math.abs(x) < 1e7) return minus(String(x));
  const ax = Math.abs(x);
  let s;
  if (ax >= 1e-4 && ax < 1e7) {
    s = x.toPrecision(digits);
    if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  } else {
    s = x.toExponential(digits - 1).replace(/\.?0+e/, 'e');
  }
  return minus(s);
}

function minus(s) {
  return s.replace(/^-/, '−');
}

/** The shape of a nested-list tensor. */
export function shapeOf(v) {
  const shape = [];
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

export function isScalar(v) {
  return typeof v === 'number' || typeof v === 'string';
}

function flat(v, out = []) {
  if (Array.isArray(v)) v.forEach((e) => flat(e, out));
  else out.push(v);
  return out;
}

function compact(v) {
  return Array.isArray(v) ? `[${v.map(compact).join(',')}]` : fmtNum(v, 3);
}

/** A short label for any tensor: the number, a small tensor in full, or its shape and first values. */
export function fmtTensor(v, digits = 4) {
  if (v === undefined || v === null) return '';
  if (isScalar(v)) return fmtNum(v, digits);
  const shape = shapeOf(v);
  const all = flat(v);
  if (all.length <= 4) return compact(v);
  const head = all.slice(0, 2).map((x) => fmtNum(x, 3)).join(',');
  return `${shape.join('×')} [${head}${all.length > 2 ? ',…' : ''}]`;
}

/** Full text of a tensor for tooltips and tables. */
export function fmtTensorFull(v) {
  if (isScalar(v)) return String(v);
  return JSON.stringify(v);
}
