// Canvas drawings of the training view: the decision boundary of the MLP
// (evaluated here, in JS, on a grid, with the params /v1/step returned) and
// the loss curve.

const C0 = [47, 111, 222]; // class 0
const C1 = [232, 124, 43]; // class 1
export const DOMAIN = 1.45; // the plot shows [-DOMAIN, DOMAIN]²

function act(name, z) {
  if (name === 'relu') return z > 0 ? z : 0;
  if (name === 'sigmoid') return 1 / (1 + Math.exp(-z));
  return Math.tanh(z);
}

/** P(class 1) for each point of `pts` ([[x0, x1]...]) under the MLP. */
export function predict(params, nLayers, activation, pts) {
  const out = new Float64Array(pts.length);
  for (let p = 0; p < pts.length; p++) {
    let h = pts[p];
    for (let l = 1; l <= nLayers; l++) {
      const W = params[`W${l}`];
      const b = params[`b${l}`];
      const z = new Array(b.length);
      for (let j = 0; j < b.length; j++) {
        let s = b[j];
        for (let i = 0; i < h.length; i++) s += h[i] * W[i][j];
        z[j] = l < nLayers ? act(activation, s) : s;
      }
      h = z;
    }
    out[p] = 1 / (1 + Math.exp(h[0] - h[1]));
  }
  return out;
}

const mix = (a, b, t) => Math.round(a + (b - a) * t);

/** The boundary: shaded probabilities, the 0.5 contour, and the data points. */
export function drawBoundary(canvas, data, probFn) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  const toPx = (x) => ((x + DOMAIN) / (2 * DOMAIN)) * W;
  const toPy = (y) => H - ((y + DOMAIN) / (2 * DOMAIN)) * H;
  ctx.clearRect(0, 0, W, H);
  if (probFn) {
    const G = 90;
    const pts = [];
    for (let j = 0; j < G; j++)
      for (let i = 0; i < G; i++) pts.push([-DOMAIN + ((i + 0.5) / G) * 2 * DOMAIN, DOMAIN - ((j + 0.5) / G) * 2 * DOMAIN]);
    const prob = probFn(pts);
    const img = new ImageData(G, G);
    for (let k = 0; k < G * G; k++) {
      const p = prob[k];
      const c = p > 0.5 ? C1 : C0;
      const strength = Math.min(1, Math.abs(p - 0.5) * 2);
      const t = 0.12 + 0.38 * strength;
      img.data[4 * k] = mix(255, c[0], t);
      img.data[4 * k + 1] = mix(255, c[1], t);
      img.data[4 * k + 2] = mix(255, c[2], t);
      img.data[4 * k + 3] = 255;
    }
    const off = document.createElement('canvas');
    off.width = G;
    off.height = G;
    off.getContext('2d').putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, W, H);
  } else {
    ctx.fillStyle = '#fbfcfe';
    ctx.fillRect(0, 0, W, H);
  }
  // axes
  ctx.strokeStyle = 'rgba(40,50,70,0.15)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(toPx(0), 0);
  ctx.lineTo(toPx(0), H);
  ctx.moveTo(0, toPy(0));
  ctx.lineTo(W, toPy(0));
  ctx.stroke();
  for (let k = 0; k < data.X.length; k++) {
    const c = data.y[k] ? C1 : C0;
    ctx.beginPath();
    ctx.arc(toPx(data.X[k][0]), toPy(data.X[k][1]), 3.6, 0, 2 * Math.PI);
    ctx.fillStyle = `rgb(${c[0]},${c[1]},${c[2]})`;
    ctx.fill();
    ctx.lineWidth = 1.2;
    ctx.strokeStyle = '#ffffff';
    ctx.stroke();
  }
}

function niceLog(v) {
  return v >= 1 ? String(Math.round(v * 10) / 10) : v >= 0.01 ? String(Math.round(v * 100) / 100) : v.toExponential(0);
}

/** The loss per step on a log scale, with a smoothed line over the raw one. */
export function drawLoss(canvas, losses) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  const L = 52;
  const R = 14;
  const T = 14;
  const B = 34;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = '#fbfcfe';
  ctx.fillRect(0, 0, W, H);
  ctx.font = '11px system-ui, "DejaVu Sans", sans-serif';
  ctx.fillStyle = '#5d6880';
  const finite = losses.filter((v) => Number.isFinite(v) && v > 0);
  if (!finite.length) {
    ctx.textAlign = 'center';
    ctx.fillText('Press Train: the loss of every step appears here.', W / 2, H / 2);
    return;
  }
  let lo = Math.log10(Math.min(...finite));
  let hi = Math.log10(Math.max(...finite));
  if (hi - lo < 0.5) {
    const mid = (hi + lo) / 2;
    lo = mid - 0.25;
    hi = mid + 0.25;
  }
  const n = Math.max(losses.length, 10);
  const x = (i) => L + (i / (n - 1)) * (W - L - R);
  const y = (v) => T + ((hi - Math.log10(v)) / (hi - lo)) * (H - T - B);
  // grid: powers of ten and their halves
  ctx.strokeStyle = '#e6eaf2';
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
    for (const m of hi - lo > 2.2 ? [1] : hi - lo > 1.2 ? [1, 3] : [1, 2, 5]) {
      const v = m * 10 ** e;
      const lv = Math.log10(v);
      if (lv < lo - 1e-9 || lv > hi + 1e-9) continue;
      ctx.beginPath();
      ctx.moveTo(L, y(v));
      ctx.lineTo(W - R, y(v));
      ctx.stroke();
      ctx.fillText(niceLog(v), L - 6, y(v));
    }
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  // About six ticks, at 1, 2 or 5 times a power of ten.
  const raw = n / 6;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const r = raw / mag;
  const stepTick = Math.max(1, (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag);
  for (let i = 0; i < n; i += stepTick) ctx.fillText(String(i), x(i), H - B + 8);
  ctx.fillText('step', W - R - 14, H - 14);
  ctx.strokeStyle = '#b8c2d6';
  ctx.beginPath();
  ctx.moveTo(L, T);
  ctx.lineTo(L, H - B);
  ctx.lineTo(W - R, H - B);
  ctx.stroke();
  const line = (vals, color, width) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    let started = false;
    vals.forEach((v, i) => {
      if (!Number.isFinite(v) || v <= 0) return;
      if (started) ctx.lineTo(x(i), y(v));
      else ctx.moveTo(x(i), y(v));
      started = true;
    });
    ctx.stroke();
  };
  line(losses, 'rgba(208,57,43,0.2)', 1);
  const smooth = [];
  let s = null;
  for (const v of losses) {
    if (Number.isFinite(v)) s = s === null ? v : 0.9 * s + 0.1 * v;
    smooth.push(s ?? NaN);
  }
  line(smooth, '#d0392b', 2.2);
}
