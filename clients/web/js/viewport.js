// Zoom and pan for the graph drawing: the <svg> element is a window of a
// fixed size on the page, its viewBox the part of the drawing shown. The
// scale never drops below the one where the smallest text stays legible.

const LEGIBLE_PX = 10; // the smallest text on screen, in CSS px
const MAX_SCALE = 4;
const FIT_MAX = 1.3; // small graphs are drawn a little larger than life

export class Viewport {
  /**
   * svg: the <svg>; wrap: its container (gives the available width);
   * minFont: the smallest font size the drawing uses (px at scale 1).
   */
  constructor(svg, wrap, minFont) {
    this.svg = svg;
    this.wrap = wrap;
    this.minScale = LEGIBLE_PX / minFont;
    this.ext = null; // the drawing's extent {x, y, width, height}
    this.scale = 1;
    this.view = { x: 0, y: 0 };
    this.elemW = 0;
    this.elemH = 0;
    this.dragged = false;
    this.bindPointer();
  }

  /** The scale at which the extent would fit the available width. */
  fitScale(ext = this.ext) {
    return Math.min(FIT_MAX, this.availableWidth() / ext.width);
  }

  availableWidth() {
    return Math.max(200, this.wrap.clientWidth - 2);
  }

  /** Shows the whole drawing `ext` (or the current one) as large as fits, never below legible. */
  fit(ext = this.ext) {
    if (!ext) return;
    this.ext = ext;
    const s = Math.max(this.minScale, this.fitScale(ext));
    this.scale = s;
    const avail = this.availableWidth();
    this.elemW = Math.min(avail, ext.width * s);
    const maxH = Math.max(360, window.innerHeight * 0.8);
    this.elemH = s > this.minScale ? ext.height * s : Math.min(ext.height * s, maxH);
    // Centred when it fits; from the top-left corner otherwise.
    const vw = this.elemW / s;
    const vh = this.elemH / s;
    this.view = { x: ext.x + Math.min(0, (ext.width - vw) / 2), y: ext.y + Math.min(0, (ext.height - vh) / 2) };
    if (vw < ext.width) this.view.x = ext.x;
    if (vh < ext.height) this.view.y = ext.y;
    this.svg.setAttribute('width', String(Math.round(this.elemW)));
    this.svg.setAttribute('height', String(Math.round(this.elemH)));
    this.apply();
  }

  apply() {
    const vw = this.elemW / this.scale;
    const vh = this.elemH / this.scale;
    this.svg.setAttribute('viewBox', `${this.view.x} ${this.view.y} ${vw} ${vh}`);
    this.svg.dataset.scale = String(this.scale);
    this.svg.dataset.fits = String(this.isAllVisible());
  }

  isAllVisible() {
    const vw = this.elemW / this.scale;
    const vh = this.elemH / this.scale;
    const e = this.ext;
    const eps = 0.5;
    return this.view.x <= e.x + eps && this.view.y <= e.y + eps && this.view.x + vw >= e.x + e.width - eps && this.view.y + vh >= e.y + e.height - eps;
  }

  /** Zooms by factor f about the element point (px, py) (its centre by default). */
  zoom(f, px = this.elemW / 2, py = this.elemH / 2) {
    const s = Math.min(MAX_SCALE, Math.max(this.minScale, this.scale * f));
    const wx = this.view.x + px / this.scale;
    const wy = this.view.y + py / this.scale;
    this.scale = s;
    this.view = { x: wx - px / s, y: wy - py / s };
    this.apply();
  }

  pan(dx, dy) {
    this.view = { x: this.view.x - dx / this.scale, y: this.view.y - dy / this.scale };
    this.apply();
  }

  bindPointer() {
    const svg = this.svg;
    let start = null;
    svg.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      start = { x: e.clientX, y: e.clientY, id: e.pointerId };
      this.dragged = false;
    });
    svg.addEventListener('pointermove', (e) => {
      if (!start || e.pointerId !== start.id) return;
      const dx = e.clientX - start.x;
      const dy = e.clientY - start.y;
      if (!this.dragged && Math.hypot(dx, dy) < 4) return;
      if (!this.dragged) svg.setPointerCapture(e.pointerId);
      this.dragged = true;
      svg.classList.add('panning');
      this.pan(dx, dy);
      start.x = e.clientX;
      start.y = e.clientY;
    });
    const end = () => {
      start = null;
      svg.classList.remove('panning');
    };
    svg.addEventListener('pointerup', end);
    svg.addEventListener('pointercancel', end);
    // Ctrl + wheel (and a trackpad's pinch) zooms; a plain wheel scrolls the page.
    svg.addEventListener(
      'wheel',
      (e) => {
        if (!e.ctrlKey && !e.metaKey) return;
        e.preventDefault();
        const r = svg.getBoundingClientRect();
        this.zoom(Math.exp(-e.deltaY * 0.0025), e.clientX - r.left, e.clientY - r.top);
      },
      { passive: false },
    );
  }
}
