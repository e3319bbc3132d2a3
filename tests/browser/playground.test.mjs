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
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
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
  assert.equal((await lossLabel()).replace(/\s/g, ''), 'f=6');
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
  const curls = await page.locator('#graph-requests pre.curl').allTextContents();
  assert.equal(curls.length, 3);
  assert.ok(curls.every((c) => c.startsWith('curl ') && c.includes(origin + '/v1/')), curls.join('\n'));
  assert.ok(curls.some((c) => c.includes('/v1/gradient-graph')) && curls.some((c) => c.includes('/v1/forward')));
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

test('no request left the daemon, and the page logged no error', async () => {
  assert.ok(requested.length > 10, `requests recorded: ${requested.length}`);
  const foreign = requested.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(foreign, []);
  assert.deepEqual(problems, []);
  assert.ok(existsSync(path.join(SHOTS, 'graph-first-load.png')));
});
