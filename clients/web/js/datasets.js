// 2-D toy classification sets, two classes, made from a seeded generator so
// a given choice always gives the same points.

export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller) from a uniform generator. */
export function gauss(rand) {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

function spiral(n, noise, rand) {
  const X = [];
  const y = [];
  const per = Math.floor(n / 2);
  for (let c = 0; c < 2; c++) {
    for (let i = 0; i < per; i++) {
      const r = (i / per) * 0.95 + 0.05;
      const t = 1.6 * Math.PI * (i / per) * 1.5 + c * Math.PI;
      X.push([r * Math.sin(t) + noise * 0.35 * gauss(rand), r * Math.cos(t) + noise * 0.35 * gauss(rand)]);
      y.push(c);
    }
  }
  return { X, y };
}

function xor(n, noise, rand) {
  const X = [];
  const y = [];
  for (let i = 0; i < n; i++) {
    let a = rand() * 2 - 1;
    let b = rand() * 2 - 1;
    a += a > 0 ? 0.05 : -0.05;
    b += b > 0 ? 0.05 : -0.05;
    y.push(a * b > 0 ? 0 : 1);
    X.push([a + noise * 0.3 * gauss(rand), b + noise * 0.3 * gauss(rand)]);
  }
  return { X, y };
}

function circles(n, noise, rand) {
  const X = [];
  const y = [];
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    const r = c === 0 ? rand() * 0.45 : 0.7 + rand() * 0.3;
    const t = rand() * 2 * Math.PI;
    X.push([r * Math.cos(t) + noise * 0.3 * gauss(rand), r * Math.sin(t) + noise * 0.3 * gauss(rand)]);
    y.push(c);
  }
  return { X, y };
}

const MAKERS = { spiral, xor, circles };

/** {X: [[x0, x1]...], y: [0|1...]} for one of spiral, xor, circles. */
export function makeDataset(name, n, noise, seed = 7) {
  const make = MAKERS[name];
  if (!make) throw new Error(`no data set named ${name}`);
  const rand = rng(seed);
  return make(n, noise, rand);
}
