// The graph drawing painted onto a canvas, for the PNG export. The page's
// Content-Security-Policy (img-src 'self') forbids loading the SVG as an
// image from a blob: URL, so the drawing is walked element by element
// (rect, path, text, the arrowheads of marker-end) with the styles the
// browser computed for it.

function translateOf(el) {
  const m = /translate\(\s*([-\d.e]+)[ ,]+([-\d.e]+)\s*\)/.exec(el.getAttribute('transform') || '');
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

const num = (el, k) => Number(el.getAttribute(k) || 0);
const painted = (c) => c && c !== 'none' && !/rgba\(.*,\s*0\)$/.test(c);

function applyStroke(ctx, cs) {
  ctx.strokeStyle = cs.stroke;
  ctx.lineWidth = parseFloat(cs.strokeWidth) || 1;
  const dash = cs.strokeDasharray && cs.strokeDasharray !== 'none' ? cs.strokeDasharray.split(/[ ,]+/).map(parseFloat).filter((x) => x >= 0) : [];
  ctx.setLineDash(dash);
}

// The last segment's end point and direction, from the path data.
function pathEnd(d) {
  const nums = (d.match(/-?\d*\.?\d+(?:e[-+]?\d+)?/gi) || []).map(Number);
  if (nums.length < 4) return null;
  const n = nums.length;
  const [x0, y0, x1, y1] = [nums[n - 4], nums[n - 3], nums[n - 2], nums[n - 1]];
  return { x: x1, y: y1, angle: Math.atan2(y1 - y0, x1 - x0) };
}

function arrowhead(ctx, end, cs) {
  const k = (7 / 10) * (parseFloat(cs.strokeWidth) || 1);
  ctx.save();
  ctx.translate(end.x, end.y);
  ctx.rotate(end.angle);
  ctx.scale(k, k);
  ctx.beginPath();
  ctx.moveTo(-9, -5);
  ctx.lineTo(1, 0);
  ctx.lineTo(-9, 5);
  ctx.closePath();
  ctx.setLineDash([]);
  ctx.fillStyle = cs.stroke;
  ctx.fill();
  ctx.restore();
}

function paint(ctx, el) {
  const cs = getComputedStyle(el);
  if (cs.display === 'none') return;
  const tag = el.tagName.toLowerCase();
  if (tag === 'g' || tag === 'svg') {
    ctx.save();
    const [tx, ty] = translateOf(el);
    ctx.translate(tx, ty);
    ctx.globalAlpha *= Number(cs.opacity);
    for (const kid of el.children) paint(ctx, kid);
    ctx.restore();
    return;
  }
  if (cs.visibility === 'hidden') return;
  if (tag === 'rect') {
    ctx.beginPath();
    const rx = Math.min(num(el, 'rx'), num(el, 'width') / 2, num(el, 'height') / 2);
    ctx.roundRect(num(el, 'x'), num(el, 'y'), num(el, 'width'), num(el, 'height'), rx);
    if (painted(cs.fill)) {
      ctx.fillStyle = cs.fill;
      ctx.fill();
    }
    if (painted(cs.stroke)) {
      applyStroke(ctx, cs);
      ctx.stroke();
    }
  } else if (tag === 'path') {
    const d = el.getAttribute('d') || '';
    const p = new Path2D(d);
    if (painted(cs.fill)) {
      ctx.fillStyle = cs.fill;
      ctx.fill(p);
    }
    if (painted(cs.stroke)) {
      applyStroke(ctx, cs);
      ctx.stroke(p);
    }
    const end = el.getAttribute('marker-end') ? pathEnd(d) : null;
    if (end) arrowhead(ctx, end, cs);
  } else if (tag === 'text') {
    ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    ctx.textAlign = cs.textAnchor === 'middle' ? 'center' : cs.textAnchor === 'end' ? 'right' : 'left';
    ctx.textBaseline = 'middle';
    const x = num(el, 'x');
    const y = num(el, 'y');
    const text = el.textContent;
    if (painted(cs.stroke) && cs.paintOrder.startsWith('stroke')) {
      applyStroke(ctx, cs);
      ctx.setLineDash([]);
      ctx.lineJoin = 'round';
      ctx.strokeText(text, x, y);
    }
    ctx.fillStyle = cs.fill;
    ctx.fillText(text, x, y);
  }
}

/**
 * Paints the drawing in `svg` (its part `ext` {x, y, width, height}, in
 * drawing units) at `scale` pixels per unit; resolves to a PNG Blob.
 */
export function svgToPng(svg, ext, scale = 2) {
  const c = document.createElement('canvas');
  c.width = Math.ceil(ext.width * scale);
  c.height = Math.ceil(ext.height * scale);
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#fbfcfe';
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.scale(scale, scale);
  ctx.translate(-ext.x, -ext.y);
  const root = svg.querySelector('g.root');
  if (root) paint(ctx, root);
  return new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new Error('the PNG could not be made'))), 'image/png'));
}
