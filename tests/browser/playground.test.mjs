// Drives the web playground (clients/web) in Debian's chromium, headless,
// through playwright-core. Starts its own build/gradd on a free port, clicks
// through both views, asserts on what the page draws, and saves screenshots
// in build/browser/. The expected numbers are worked by hand from the seeds
// (shared/seeds), not taken from gradd.
//
//   node --test playground.test.mjs      (from tests/browser, after npm ci)
//   GRADD_BIN=... CHROMIUM=... SHOTS=...  override the paths

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const GRADD = process.env.GRADD_BIN || path.join(root, 'build/gradd');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.SHOTS || path.join(root, 'build/browser');
const WEB_ROOT = path.join(root, 'clients/web');
const T = 20000; // generous timeout for one UI wait

let daemon = null;
let ctx = null;
let page = null;
let origin = '';
let profile = '';
const requested = []; // every URL the page asked for
const problems = []; // page errors and console errors

function cleanup() {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  if (profile) rmSync(profile, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

// The whole run has a ceiling, whatever hangs.
const ceiling = setTimeout(() => {
  console.error('browser test: over 6 minutes, giving up');
  process.exit(1);
}, 6 * 60 * 1000);
ceiling.unref();

function startDaemon() {
  return new Promise((resolve, reject) => {
    const d = spawn(GRADD, ['serve', '--port', '0', '--bind', '127.0.0.1', '--web-root', WEB_ROOT, '--workers', '1'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    daemon = d;
    let out = '';
    const timer = setTimeout(() => reject(new Error(`gradd did not say where it listens: ${out}`)), 15000);
    d.on('error', (e) => reject(e));
    d.on('exit', (code) => reject(new Error(`gradd exited with ${code} before listening: ${out}`)));
    d.stdout.on('data', (c) => {
      out += c;
      const m = /listening on (127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(`http://${m[1]}`);
      }
    });
  });
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  origin = await startDaemon();
  profile = mkdtempSync(path.join(tmpdir(), 'gradd-chromium-'));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60000,
    viewport: { width: 1440, height: 1000 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  // Record every request; anything for another origin is refused (and
  // fails the test below).
  await ctx.route('**/*', (route) => {
    const url = route.request().url();
    requested.push(url);
    if (url.startsWith(origin + '/') || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    return route.abort();
  });
  page = ctx.pages()[0] || (await ctx.newPage());
  page.setDefaultTimeout(T);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // A rejected request is logged by chromium itself; the page shows those.
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
      problems.push(`console: ${m.text()}`);
  });
});

after(async () => {
  if (ctx) await ctx.close().catch(() => {});
  cleanup();
});

const shot = (name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

// "−0.25" as drawn (typographic minus, arrow) -> -0.25
function num(text) {
  const t = text.replace(/[←∇\s]/g, '').replace(/−/g, '-').replace(/^.*=/, '');
  const v = Number(t);
  assert.ok(Number.isFinite(v), `not a number: ${JSON.stringify(text)}`);
  return v;
}

// Waits for the graph view to finish the run after `action`.
async function computed(action) {
  const before = Number((await page.getAttribute('#graph-svg', 'data-runs')) || 0);
  await action();
  await page.waitForFunction(
    (n) => Number(document.getElementById('graph-svg').dataset.runs || 0) > n,
    before,
    { timeout: T },
  );
  return page.getAttribute('#graph-svg', 'data-state');
}

// The same, for a run that must succeed: a failure names what the page showed.
async function mustCompute(action) {
  const state = await computed(action);
  if (state !== 'done') assert.fail(`the run ended in ${state}: ${await page.textContent('#graph-error')}`);
}

async function nodeAdj(name) {
  const t = await page.locator(`#graph-svg g.node[data-name="${name}"] .node-adj`).textContent();
  return num(t);
}
async function nodeAdjExact(name) {
  return Number(await page.locator(`#graph-svg g.node[data-name="${name}"] .node-adj`).getAttribute('data-adjoint'));
}
async function nodeValueExact(name) {
  return Number(await page.locator(`#graph-svg g.node[data-name="${name}"]`).getAttribute('data-value'));
}
async function edgeTexts(from, to, cls) {
  return page.locator(`#graph-svg g.edge-label[data-from="${from}"]${to === undefined ? '' : `[data-to="${to}"]`} .${cls}`).allTextContents();
}
async function lossLabel() {
  return page.locator('#graph-svg g.edge-label.out .val').textContent();
}
function near(got, want, what, tol = 1e-9) {
  assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `${what}: drawn ${got}, worked by hand ${want}`);
}

test('first load shows seed 000 e = (a+b)(b+1) computed, values on edges and adjoints', async () => {
  await page.goto(origin + '/', { waitUntil: 'load' });
  await page.waitForSelector('#graph-svg[data-state="done"]');
  assert.equal((await page.textContent('#health')).trim(), 'daemon up');
  // e = (a+b)(b+1) at a = 2, b = 1: c = 3, d = 2, e = 6; de/da = d = 2, de/db = d + c = 5.
  assert.equal((await lossLabel()).replace(/\s/g, ''), 'loss=6');
  assert.equal(await nodeAdj('a'), 2);
  assert.equal(await nodeAdj('b'), 5);
  assert.deepEqual((await edgeTexts('a', undefined, 'val')).map(num), [2]);
  // b fans out: 1 on both edges forward; back along them come d = 2 (via a+b) and c = 3 (via b+1).
  assert.deepEqual((await edgeTexts('b', undefined, 'val')).map(num), [1, 1]);
  assert.deepEqual((await edgeTexts('b', undefined, 'adj')).map(num).sort(), [2, 3]);
  // the two sums carry c = 3 and d = 2 into the product
  const intoF = await page.locator('#graph-svg g.edge-label[data-to="f"] .val').allTextContents();
  assert.deepEqual(intoF.map(num).sort(), [2, 3]);
  // three primitive ops and a constant 1
  assert.equal(await page.locator('#graph-svg g.node.op').count(), 3);
  assert.equal((await page.locator('#graph-svg g.node.const .leaf-name').textContent()).trim(), '1');
  // the requests it sent are shown as curl lines against this daemon
  // (the expansion into primitive nodes, then one traced gradient: every node's value and adjoint)
  const curls = await page.locator('#graph-requests pre.curl').allTextContents();
  assert.equal(curls.length, 2);
  assert.ok(curls.every((c) => c.startsWith('curl ') && c.includes(origin + '/v1/')), curls.join('\n'));
  assert.ok(curls[0].includes('/v1/gradient-graph') && curls[1].includes('/v1/gradient') && curls[1].includes('"trace":true'));
  await shot('graph-first-load');
});

test('the copied curl line is the request, and it runs', async () => {
  await page.locator('#graph-requests .req[data-route="/v1/gradient"] button.copy').click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(copied, /^curl -sS -H 'Content-Type: application\/json' -d '.*' 'http:\/\/127\.0\.0\.1:\d+\/v1\/gradient'$/s);
  let hasCurl = true;
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
  } catch {
    hasCurl = false;
  }
  if (hasCurl) {
    const out = JSON.parse(execFileSync('sh', ['-c', copied], { timeout: 15000 }).toString());
    assert.equal(out.values.f, 6);
    assert.equal(out.gradients.a, 2);
    assert.equal(out.gradients.b, 5);
  }
});

test('every worked example of the seeds is one click, with the numbers of the seeds', async () => {
  // Seed 000 pathway method: a = -x, b = e^a, c = y + b, d = 1/c at x = 0, y = 1.
  await mustCompute(() => page.click('button[data-example="reciprocal-exp"]'));
  assert.equal(num(await lossLabel()), 0.5);
  near(await nodeAdjExact('y'), -0.25, 'df/dy = -1/c^2');
  near(await nodeAdjExact('x'), 0.25, 'df/dx');
  near(await nodeAdjExact('c'), -0.25, 'dd/dc');
  assert.equal(await nodeAdj('y'), -0.25);
  assert.deepEqual((await edgeTexts('b', 'c', 'val')).map(num), [1]); // e^0
  await shot('graph-seed000-reciprocal');

  // Seed 000 exercise 2 at x = 1, y = 0, z = -2, w = 3: p = 3, q = 3, r = 3, s = 9, t = 7.
  await mustCompute(() => page.click('button[data-example="relu-square"]'));
  assert.equal(num(await lossLabel()), 7);
  for (const [n, g] of [['x', 18], ['w', 6], ['y', -6], ['z', 1]]) assert.equal(await nodeAdj(n), g, `grad of ${n}`);
  assert.deepEqual((await edgeTexts('w', undefined, 'val')).map(num), [3]);

  // Seed 000 exercise 3: w = x^2 + 3x at x = 2; the two paths bring back 2x = 4 and 3.
  await mustCompute(() => page.click('button[data-example="fan-out"]'));
  assert.equal(num(await lossLabel()), 10);
  assert.equal(await nodeAdj('x'), 7);
  assert.deepEqual((await edgeTexts('x', undefined, 'adj')).map(num).sort(), [3, 4]);
  await shot('graph-seed000-fan-out');

  // Seed 000, batches: P = XW = [[1,2],[-2,-1]], Q = [[1,2],[0,0]], R = Q - y = [[.5,1],[-.5,-1]],
  // T = R^2 + z = [[1.25,0],[1.25,0]], L = 2.5; dW = X^T (P>0)*2R = [[1,2],[2,4],[0,0]], dz = [2,2], dy = [0,0].
  await mustCompute(() => page.click('button[data-example="batched"]'));
  assert.equal(num(await lossLabel()), 2.5);
  const row = async (n) => page.locator(`#node-table tr[data-name="${n}"] td.g`).textContent();
  assert.deepEqual(JSON.parse(await row('W')), [[1, 2], [2, 4], [0, 0]]);
  assert.deepEqual(JSON.parse(await row('z')), [2, 2]);
  assert.deepEqual(JSON.parse(await row('y')), [0, 0]);
  assert.deepEqual(JSON.parse(await page.locator('#node-table tr[data-name="P"] td.v').textContent()), [[1, 2], [-2, -1]]);
  await shot('graph-seed000-batched');

  // Seed 002: z = xy + sin x at x = 0.5, y = 4.2.
  await mustCompute(() => page.click('button[data-example="xy-sin"]'));
  near(await nodeValueExact('f'), 0.5 * 4.2 + Math.sin(0.5), 'z');
  near(await nodeAdjExact('x'), 4.2 + Math.cos(0.5), 'dz/dx = y + cos x');
  near(await nodeAdjExact('y'), 0.5, 'dz/dy = x');
  assert.equal(num(await lossLabel()), 2.579);
  assert.equal(await nodeAdj('x'), 5.078);

  // Seed 004, chain rule: h = xy = 6, o = h^2 = 36; do/dh = 12, do/dx = 24, do/dy = 36.
  await mustCompute(() => page.click('button[data-example="chain"]'));
  assert.equal(num(await lossLabel()), 36);
  for (const [n, g] of [['h', 12], ['x', 24], ['y', 36]]) assert.equal(await nodeAdj(n), g, `grad of ${n}`);

  // Seed 004, the tape: o = ab = 6, f = 5o = 30; o 5, a 15, b 10.
  await mustCompute(() => page.click('button[data-example="tape"]'));
  assert.equal(num(await lossLabel()), 30);
  for (const [n, g] of [['o', 5], ['a', 15], ['b', 10]]) assert.equal(await nodeAdj(n), g, `grad of ${n}`);

  // Seed 004, the diamond at x = 3, y = 2, z = 1.
  await mustCompute(() => page.click('button[data-example="diamond"]'));
  assert.equal(num(await lossLabel()), 144);
  for (const [n, g] of [['h', 24], ['h1', 48], ['h2', 144], ['x', 96], ['y', 288], ['z', 288]])
    assert.equal(await nodeAdj(n), g, `grad of ${n}`);
  assert.deepEqual((await edgeTexts('y', undefined, 'adj')).map(num).sort((p, q) => p - q), [144, 144]);
  await shot('graph-seed004-diamond');

  // Seed 004, GradientTape: y = x*x = 9, z = y*y = 81; dz/dx = 108, dz/dy = 18.
  await mustCompute(() => page.click('button[data-example="tf-tape"]'));
  assert.equal(num(await lossLabel()), 81);
  assert.equal(await nodeAdj('x'), 108);
  assert.equal(await nodeAdj('y'), 18);

  // Seed 003 (c), a ReLU layer: it draws, with a matmul node.
  await mustCompute(() => page.click('button[data-example="relu-layer"]'));
  assert.equal(await page.locator('#graph-svg g.node.op[data-name="U"] .sym').textContent(), '@');
});

test('a typed expression with the inputs editor, and a typed JSON request', async () => {
  await page.click('#mode-expr');
  await page.fill('#expr', '(p+q)*(q+1)');
  // the inputs editor grew a row per name
  await page.waitForSelector('#in-p');
  await page.fill('#in-p', '3');
  await page.fill('#in-q', '6');
  // seed 000: a = 3, b = 6 -> (3+6)(6+1) = 63; de/da = 7, de/db = 7 + 9 = 16
  await mustCompute(() => page.press('#expr', 'Enter'));
  assert.equal(num(await lossLabel()), 63);
  assert.equal(await nodeAdj('p'), 7);
  assert.equal(await nodeAdj('q'), 16);

  await page.click('#mode-json');
  await page.fill('#json', JSON.stringify({ graph: 'x^2 + 3*x', inputs: { x: 5 } }));
  await mustCompute(() => page.click('#run-json'));
  assert.equal(num(await lossLabel()), 40);
  assert.equal(await nodeAdj('x'), 13);
});

test('a rejected request shows the message and the offending field', async () => {
  // an input the expression does not use
  await page.fill('#json', JSON.stringify({ graph: 'x*2', inputs: { x: 1, q: 2 } }));
  assert.equal(await computed(() => page.click('#run-json')), 'error');
  await page.waitForSelector('#graph-error:not([hidden])');
  assert.equal(await page.textContent('#graph-error .err-path'), '/inputs/q');
  assert.ok((await page.textContent('#graph-error .msg')).length > 10);
  assert.ok(await page.locator('#json.bad-field').count());
  assert.equal(await page.getAttribute('#graph-requests .req', 'data-status'), '400');
  await shot('graph-error-json');

  // a broken expression points at /graph and marks the expression box
  await page.click('#mode-expr');
  await page.fill('#expr', '(a+b');
  assert.equal(await computed(() => page.press('#expr', 'Enter')), 'error');
  assert.equal(await page.textContent('#graph-error .err-path'), '/graph');
  assert.match(await page.textContent('#graph-error .msg'), /\)/);
  assert.ok(await page.locator('#expr.bad-field').count());
  await shot('graph-error-expression');

  // and a good one clears it
  await page.fill('#expr', 'a*b');
  await mustCompute(() => page.press('#expr', 'Enter'));
  assert.ok(await page.locator('#graph-error[hidden]').count());
});

// Every node's box (and every label) inside the visible drawing, no text
// below 10 px on screen, no generated name (f#2) written anywhere.
async function drawingChecks(what) {
  const r = await page.evaluate(() => {
    const svg = document.getElementById('graph-svg');
    const box = svg.getBoundingClientRect();
    const scale = Number(svg.dataset.scale);
    const out = { outside: [], small: [], generated: [], nodes: 0, scale, fits: svg.dataset.fits, orient: svg.dataset.orient };
    const inside = (r) => r.left >= box.left - 1 && r.top >= box.top - 1 && r.right <= box.right + 1 && r.bottom <= box.bottom + 1;
    for (const g of svg.querySelectorAll('g.node, g.edge-label')) {
      if (g.matches('g.node')) out.nodes++;
      const r = g.getBoundingClientRect();
      if (r.width && !inside(r)) out.outside.push(g.dataset.name || `${g.dataset.from}->${g.dataset.to}`);
    }
    for (const t of svg.querySelectorAll('text')) {
      if (getComputedStyle(t).visibility === 'hidden') continue;
      const px = parseFloat(getComputedStyle(t).fontSize) * scale;
      if (px < 9.99) out.small.push(`${t.textContent} ${px.toFixed(1)}px`);
      if (t.textContent.includes('#')) out.generated.push(t.textContent);
    }
    return out;
  });
  assert.ok(r.nodes > 0, `${what}: nothing drawn`);
  assert.deepEqual(r.outside, [], `${what}: outside the drawing (scale ${r.scale}, ${r.orient})`);
  assert.deepEqual(r.small, [], `${what}: text below 10 px`);
  assert.deepEqual(r.generated, [], `${what}: generated names drawn`);
  assert.equal(r.fits, 'true', `${what}: the whole graph in view`);
  return r;
}

test('at 1400 px and 400 px every node lies inside the drawing, text legible, tabs whole', async () => {
  for (const width of [1400, 400]) {
    await page.setViewportSize({ width, height: 1000 });
    await page.waitForTimeout(300);
    for (const ex of ['sum-product', 'batched', 'diamond', 'relu-layer', 'mlp']) {
      await mustCompute(() => page.click(`button[data-example="${ex}"]`));
      const r = await drawingChecks(`${ex} at ${width} px`);
      if (ex === 'mlp') {
        assert.equal(r.orient, 'TB', 'the MLP draws top to bottom where left to right would be too small');
        await shot(`graph-mlp-${width}`);
      }
    }
    // a deep expression (121 primitive ops, its leaves shared by 40 layers) stays readable and quick
    let e = 'x';
    for (let i = 0; i < 40; i++) e = `tanh(${e} * w${i % 5} + ${i % 3 ? 'b' : 'x'})`;
    await page.click('#mode-expr');
    await page.fill('#expr', `sum(${e})`);
    for (const n of ['x', 'b', 'w0', 'w1', 'w2', 'w3', 'w4']) await page.fill(`#in-${n}`, '[0.1, 0.2]');
    const t0 = Date.now();
    await mustCompute(() => page.press('#expr', 'Enter'));
    assert.ok(Date.now() - t0 < 8000, `the deep expression took ${Date.now() - t0} ms`);
    await drawingChecks(`deep expression at ${width} px`);
    assert.equal(await page.locator('#graph-svg g.node.op').count(), 121);
    // the tabs are whole and nothing overflows sideways
    const tabs = await page.evaluate(() => [...document.querySelectorAll('.tabs a')].map((a) => a.getBoundingClientRect().right));
    assert.ok(tabs.every((x) => x <= width), `tabs cut off at ${width} px: ${tabs}`);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= width, `the page scrolls sideways at ${width} px`);
  }
  await page.setViewportSize({ width: 1440, height: 1000 });
  await page.waitForTimeout(300);
});

test('nodes show their expression; integer labels get no adjoint', async () => {
  await mustCompute(() => page.click('button[data-example="mlp"]'));
  const caps = await page.locator('#graph-svg g.node.op .node-name').allTextContents();
  assert.ok(caps.includes('X @ W1'), caps.join(' | '));
  assert.ok(caps.includes('tanh(X @ W1 + b1)'), caps.join(' | '));
  assert.ok(caps.some((c) => c.startsWith('cross_entropy(tanh(X @ W1')), caps.join(' | '));
  // y enters cross_entropy's target slot only: no adjoint drawn, none in the table
  assert.equal(await page.locator('#graph-svg g.node[data-name="y"] .node-adj').count(), 0);
  assert.equal(await page.locator('#graph-svg g.edge-label[data-from="y"] .adj').count(), 0);
  assert.match(await page.locator('#node-table tr[data-name="y"] td.g').textContent(), /none/);
  assert.equal(await page.locator('#graph-svg g.node[data-name="b2"] .node-adj').count(), 1);
  // the node table names nodes by expression too
  const names = await page.locator('#node-table tbody tr td:first-child').allTextContents();
  assert.ok(names.every((n) => !n.includes('#')), names.join(' | '));
});

test('zoom, fit, and collapsing a subexpression', async () => {
  await mustCompute(() => page.click('button[data-example="mlp"]'));
  const s0 = Number(await page.getAttribute('#graph-svg', 'data-scale'));
  await page.click('#zoom-in');
  const s1 = Number(await page.getAttribute('#graph-svg', 'data-scale'));
  assert.ok(s1 > s0, `zoom in: ${s0} -> ${s1}`);
  // dragging pans: the viewBox moves
  const vb0 = await page.getAttribute('#graph-svg', 'viewBox');
  const box = await page.locator('#graph-svg').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + 60);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 - 80, box.y + 20, { steps: 5 });
  await page.mouse.up();
  assert.notEqual(await page.getAttribute('#graph-svg', 'viewBox'), vb0, 'a drag pans');
  for (let i = 0; i < 12; i++) await page.click('#zoom-out');
  assert.ok(Number(await page.getAttribute('#graph-svg', 'data-scale')) >= 10 / 12 - 1e-9, 'zooming out stops at legible text');
  await page.click('#zoom-fit');
  assert.equal(Number(await page.getAttribute('#graph-svg', 'data-scale')), s0);
  assert.equal(await page.getAttribute('#graph-svg', 'data-fits'), 'true');

  const before = Number(await page.getAttribute('#graph-svg', 'data-nodes'));
  // the tanh node: collapsing it hides X @ W1, the add and X, W1, b1
  const tanh = page.locator('#graph-svg g.node.op').filter({ has: page.locator('text.node-name', { hasText: /^tanh\(X @ W1 \+ b1\)$/ }) });
  await tanh.click();
  await page.waitForSelector('#graph-svg g.node.group');
  const after = Number(await page.getAttribute('#graph-svg', 'data-nodes'));
  assert.equal(after, before - 5, `collapsed: ${before} -> ${after}`);
  assert.match(await page.locator('#graph-svg g.node.group .sym').textContent(), /^tanh\(/);
  await drawingChecks('collapsed MLP');
  await shot('graph-mlp-collapsed');
  await page.click('#expand-all');
  assert.equal(Number(await page.getAttribute('#graph-svg', 'data-nodes')), before);
});

test('step through: forward values, then adjoints flowing back, then tangents', async () => {
  await mustCompute(() => page.click('button[data-example="sum-product"]'));
  await page.selectOption('#tangent-seed', 'a');
  await page.click('#step-start');
  const phase = () => page.getAttribute('#step-text', 'data-phase');
  // One step: click and wait for the step text to change (the tangents need a request).
  const click = async (id) => {
    const was = await page.textContent('#step-text');
    await page.click(id);
    await page.waitForFunction((w) => document.getElementById('step-text').textContent !== w, was);
  };
  const shown = (sel) =>
    page.evaluate((s) => [...document.querySelectorAll(s)].filter((t) => getComputedStyle(t).visibility !== 'hidden').map((t) => t.textContent), sel);
  const visibleAdj = async () =>
    page.evaluate(() =>
      [...document.querySelectorAll('#graph-svg g.node')]
        .filter((g) => { const t = g.querySelector('.node-adj'); return t && getComputedStyle(t).visibility !== 'hidden'; })
        .map((g) => [g.dataset.name, Number(g.querySelector('.node-adj').dataset.adjoint)]),
    );
  assert.equal(await phase(), 'start');
  assert.deepEqual(await visibleAdj(), []);
  assert.deepEqual(await shown('#graph-svg .edge-label.out .val'), [], 'the loss is not known yet');
  assert.ok(await page.locator('#step-prev').isDisabled());
  // forward: c = a + b = 3, d = b + 1 = 2, f = c d = 6, one node at a time
  const fwd = [];
  for (let i = 0; i < 3; i++) {
    await click('#step-next');
    assert.equal(await phase(), 'forward');
    const node = await page.getAttribute('#step-text', 'data-node');
    fwd.push([node, await nodeValueExact(node)]);
    assert.equal(await page.locator(`#graph-svg g.node.current[data-name="${node}"]`).count(), 1);
  }
  assert.deepEqual(fwd.map((x) => x[1]).sort((p, q) => p - q), [2, 3, 6]);
  assert.equal(fwd[2][0], 'f');
  assert.equal((await shown('#graph-svg .edge-label.out .val')).length, 1);
  assert.deepEqual(await visibleAdj(), []);
  // reverse: the seed 1 at f first, then c (= d = 2) and d (= c = 3), then the leaves
  await click('#step-next');
  assert.equal(await phase(), 'reverse');
  assert.deepEqual(await visibleAdj(), [['f', 1]]);
  const seen = [];
  while ((await phase()) === 'reverse' && !(await page.locator('#step-next').isDisabled())) {
    await click('#step-next');
    if ((await phase()) !== 'reverse') break;
    seen.push(await page.getAttribute('#step-text', 'data-node'));
  }
  const adj = Object.fromEntries(await page.evaluate(() =>
    [...document.querySelectorAll('#graph-svg g.node')].map((g) => [g.dataset.name, g.querySelector('.node-adj')?.dataset.adjoint])));
  assert.equal(Number(adj.a), 2);
  assert.equal(Number(adj.b), 5);
  assert.ok(seen.includes('a') && seen.includes('b'), `the leaves get their adjoints last: ${seen}`);
  // previous goes back one step
  await click('#step-prev');
  assert.equal(await phase(), 'reverse');
  await click('#step-next');
  // tangents of a: c = 1, d = 0, f = d * 1 + c * 0 = 2
  assert.equal(await phase(), 'tangent');
  while (!(await page.locator('#step-next').isDisabled())) await click('#step-next');
  const tan = Object.fromEntries(await page.evaluate(() =>
    [...document.querySelectorAll('#graph-svg g.node')].map((g) => [g.dataset.name, g.querySelector('.node-tan')?.dataset.tangent])));
  assert.equal(Number(tan.a), 1);
  assert.equal(Number(tan.b), 0);
  assert.equal(Number(tan.f), 2);
  assert.match(await page.textContent('#step-text'), /= 2$/);
  await shot('graph-step-tangent');
  await page.click('#step-exit');
  assert.ok(await page.locator('#step-text').isHidden());
  assert.equal(await nodeAdj('b'), 5);
});

test('export: the graph as SVG and PNG, the request as curl, Python and JavaScript', async () => {
  await mustCompute(() => page.click('button[data-example="sum-product"]'));
  const save = async (click) => {
    const [dl] = await Promise.all([page.waitForEvent('download'), click()]);
    return { name: dl.suggestedFilename(), data: readFileSync(await dl.path()) };
  };
  const svg = await save(() => page.click('#export-svg'));
  assert.equal(svg.name, 'graph.svg');
  const text = svg.data.toString();
  assert.match(text, /^<\?xml/);
  assert.match(text, /<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(text.includes('<style') && text.includes('.node-adj'), 'the style travels with the file');
  for (const n of ['a', 'b', 'f']) assert.ok(text.includes(`data-name="${n}"`), `node ${n} in the SVG`);
  assert.ok(text.includes('∇ 5'), 'the adjoints are in the SVG');
  const png = await save(() => page.click('#export-png'));
  assert.equal(png.name, 'graph.png');
  assert.deepEqual([...png.data.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const w = png.data.readUInt32BE(16);
  const hgt = png.data.readUInt32BE(20);
  assert.ok(w > 300 && hgt > 150, `PNG ${w}x${hgt}`);
  // the request as code: each runs and gives the seed's gradients
  const run = {
    curl: (f) => execFileSync('sh', [f], { timeout: 15000 }),
    python: (f) => execFileSync('python3', [f], { timeout: 15000 }),
    js: (f) => execFileSync(process.execPath, [f], { timeout: 15000 }),
  };
  for (const lang of ['curl', 'python', 'js']) {
    await page.click(`#graph-code .code-tabs button[data-lang="${lang}"]`);
    const code = await page.textContent('#graph-code pre.code');
    const file = await save(() => page.click('#graph-code button.save'));
    assert.equal(file.data.toString(), code);
    const f = path.join(profile, file.name);
    writeFileSync(f, code);
    let out;
    try {
      out = JSON.parse(run[lang](f).toString());
    } catch (e) {
      if (lang === 'curl' && /ENOENT|not found/.test(String(e))) continue;
      throw e;
    }
    assert.equal(out.gradients.a, 2, `${lang}: ${code}`);
    assert.equal(out.gradients.b, 5, lang);
  }
  assert.match(await page.textContent('#graph-code pre.code'), /fetch\(/);
});

test('training: the loss falls and the decision boundary is drawn', async () => {
  await page.click('#tab-train');
  await page.waitForSelector('#view-train:not([hidden])');
  await page.click('#dataset button[data-set="xor"]');
  await page.click('#train-toggle');
  await page.waitForFunction(() => Number(document.getElementById('loss-plot').dataset.steps || 0) >= 400, null, {
    timeout: 120000,
  });
  await page.click('#train-toggle'); // pause
  await page.waitForFunction(() => !document.getElementById('train-step').disabled, null, { timeout: T });
  const first = Number(await page.getAttribute('#loss-plot', 'data-first-loss'));
  const last = Number(await page.getAttribute('#loss-plot', 'data-last-loss'));
  assert.ok(first > 0.4, `the untrained loss is near ln 2: ${first}`);
  assert.ok(last < first * 0.5, `the loss fell: first steps ${first}, last steps ${last}`);
  const acc = Number(await page.getAttribute('#st-acc', 'data-value'));
  assert.ok(acc > 0.85, `accuracy on XOR ${acc}`);
  assert.ok(Number(await page.textContent('#st-reqs')) >= 2, 'several steps per request');
  // the boundary canvas holds both class colours
  const colours = await page.evaluate(() => {
    const c = document.getElementById('boundary');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let blue = 0;
    let orange = 0;
    for (let i = 0; i < d.length; i += 4 * 37) {
      if (d[i + 2] > d[i] + 20) blue++;
      if (d[i] > d[i + 2] + 20) orange++;
    }
    return { blue, orange };
  });
  assert.ok(colours.blue > 50 && colours.orange > 50, JSON.stringify(colours));
  const curl = await page.textContent('#train-requests pre.curl');
  assert.ok(curl.startsWith('curl ') && curl.includes('cross_entropy'), curl.slice(0, 200));
  await page.click('#train-requests button.copy');
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  const body = JSON.parse(/ -d '(.*)' 'http/s.exec(copied)[1]);
  assert.equal(body.batches.length, 20, 'one request carries 20 steps');
  assert.equal(body.optimizer.name, 'adam');
  await shot('train-xor');

  // the spiral, for the screenshot and a second fall
  await page.click('#dataset button[data-set="spiral"]');
  await page.click('#train-toggle');
  await page.waitForFunction(() => Number(document.getElementById('loss-plot').dataset.steps || 0) >= 1500, null, {
    timeout: 180000,
  });
  await page.click('#train-toggle');
  await page.waitForFunction(() => !document.getElementById('train-step').disabled, null, { timeout: T });
  const f2 = Number(await page.getAttribute('#loss-plot', 'data-first-loss'));
  const l2 = Number(await page.getAttribute('#loss-plot', 'data-last-loss'));
  assert.ok(l2 < f2 * 0.8, `spiral loss fell: ${f2} -> ${l2}`);
  await shot('train-spiral');
});

test('training: a rejected optimizer setting names the field', async () => {
  await page.click('#opt-name button[data-opt="sgd"]');
  assert.ok(await page.locator('#momentum').isVisible());
  await page.fill('#lr', '-1');
  await page.click('#train-step');
  await page.waitForSelector('#train-error:not([hidden])');
  assert.equal(await page.textContent('#train-error .err-path'), '/optimizer/lr');
  assert.equal(await page.textContent('#train-error .err-value'), '-1');
  assert.ok(await page.locator('#lr.bad-field').count());
  await shot('train-error');
});

test('training: streamed progress, params as JSON, the step as code', async () => {
  await page.click('#opt-name button[data-opt="adam"]');
  await page.fill('#lr', '0.03');
  await page.click('#dataset button[data-set="circles"]');
  // one request of 60 steps streams a progress line per step, drawn as they come
  await page.fill('#steps-per-req', '60');
  await page.click('#train-step');
  await page.waitForFunction(() => !document.getElementById('train-step').disabled);
  assert.equal(Number(await page.getAttribute('#loss-plot', 'data-steps')), 60);
  assert.equal(await page.getAttribute('#loss-plot', 'data-stream-lines'), '60', 'one NDJSON line per step');
  const curl = await page.textContent('#train-requests pre.curl');
  assert.ok(curl.startsWith('curl -sS -N'), curl.slice(0, 60));
  assert.ok(curl.includes('"stream":true'), 'the step is asked to stream');
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#export-params')]);
  assert.equal(dl.suggestedFilename(), 'params.json');
  const saved = JSON.parse(readFileSync(await dl.path()).toString());
  assert.deepEqual(Object.keys(saved.params).sort(), ['W1', 'W2', 'W3', 'b1', 'b2', 'b3']);
  assert.equal(saved.params.W1.length, 2);
  assert.equal(saved.params.W1[0].length, 16);
  assert.equal(saved.steps, 60);
  await page.click('#train-code .code-tabs button[data-lang="python"]');
  assert.match(await page.textContent('#train-code pre.code'), /urllib\.request/);
  await page.fill('#steps-per-req', '20');
});

test('training: a diverging run is stopped with a warning', async () => {
  await page.click('#opt-name button[data-opt="sgd"]');
  await page.fill('#lr', '1e300');
  await page.click('#train-toggle');
  await page.waitForSelector('#train-warn:not([hidden])');
  assert.match(await page.textContent('#train-warn'), /diverged/);
  assert.equal(await page.textContent('#train-toggle'), 'Train', 'training stopped');
  assert.ok(await page.locator('#train-error[hidden]').count());
  await shot('train-diverged');
  await page.fill('#lr', '0.1');
  await page.click('#train-reset');
  assert.ok(await page.locator('#train-warn[hidden]').count());
});

test('training: a CSV upload, a train/test split and test accuracy, at phone width too', async () => {
  // three well separated classes in four columns, labels as text
  const rows = ['sepal_a,sepal_b,noise,species'];
  const rand = (() => { let s = 7; return () => ((s = (s * 16807) % 2147483647) / 2147483647); })();
  for (let i = 0; i < 150; i++) {
    const k = i % 3;
    rows.push(`${(3 * k + rand()).toFixed(3)},${(-2 * k + rand()).toFixed(3)},${rand().toFixed(3)},${['setosa', 'versicolor', 'virginica'][k]}`);
  }
  const f = path.join(profile, 'three.csv');
  writeFileSync(f, rows.join('\n') + '\n');
  await page.click('#opt-name button[data-opt="adam"]');
  await page.fill('#lr', '0.03');
  await page.fill('#test-share', '20');
  await page.setInputFiles('#csv-file', f);
  await page.waitForFunction(() => /features/.test(document.getElementById('data-info').textContent));
  assert.match(await page.textContent('#data-info'), /^120 rows to train on, 30 held out for the test · 3 features/);
  assert.match(await page.textContent('#arch'), /^3 → 16 → 16 → 3/);
  assert.ok(await page.locator('#dataset button[data-set="csv"].on').count());
  for (let i = 0; i < 4; i++) {
    await page.click('#train-step');
    await page.waitForFunction(() => !document.getElementById('train-step').disabled);
  }
  const test = Number(await page.getAttribute('#st-test', 'data-value'));
  const train = Number(await page.getAttribute('#st-acc', 'data-value'));
  assert.ok(test >= 0.9 && train >= 0.9, `accuracy train ${train}, test ${test}`);
  // the step request carries only training rows
  await page.click('#train-code .code-tabs button[data-lang="js"]');
  const code = await page.textContent('#train-code pre.code');
  const body = JSON.parse(/^const body = (.*);$/m.exec(code)[1]);
  assert.deepEqual(body.graph.inputs.X, [-1, 3]);
  // a bad file says why
  const bad = path.join(profile, 'bad.csv');
  writeFileSync(bad, 'a,b\n1,x\n');
  await page.setInputFiles('#csv-file', bad);
  await page.waitForSelector('#train-error:not([hidden])');
  assert.match(await page.textContent('#train-error .msg'), /bad\.csv/);
  // phone width: nothing scrolls sideways, the controls are reachable
  await page.setViewportSize({ width: 400, height: 900 });
  await page.waitForTimeout(300);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 400, 'the training view scrolls sideways at 400 px');
  for (const id of ['#tab-graph', '#tab-train', '#train-toggle', '#csv-pick', '#boundary']) {
    const b = await page.locator(id).boundingBox();
    assert.ok(b && b.x >= 0 && b.x + b.width <= 400, `${id} inside the page at 400 px: ${JSON.stringify(b)}`);
  }
  await shot('train-csv-400');
  await page.setViewportSize({ width: 1440, height: 1000 });
});

test('no request left the daemon, and the page logged no error', async () => {
  assert.ok(requested.length > 10, `requests recorded: ${requested.length}`);
  const foreign = requested.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(foreign, []);
  assert.deepEqual(problems, []);
  assert.ok(existsSync(path.join(SHOTS, 'graph-first-load.png')));
});
