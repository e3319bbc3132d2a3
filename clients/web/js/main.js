// Entry point: the two views behind tabs (#graph, #train) and the daemon's health.

import { call } from './api.js';
import { initGraphView } from './graphview.js';
import { initTrainView, stopTraining } from './train.js';

const views = ['graph', 'train'];
let trainReady = false;

function show() {
  const want = location.hash.replace('#', '');
  const view = views.includes(want) ? want : 'graph';
  for (const v of views) {
    document.getElementById(`view-${v}`).hidden = v !== view;
    document.getElementById(`tab-${v}`).classList.toggle('on', v === view);
    document.getElementById(`tab-${v}`).setAttribute('aria-selected', String(v === view));
  }
  if (view === 'train' && !trainReady) {
    trainReady = true;
    initTrainView();
  }
  if (view !== 'train') stopTraining();
}

async function health() {
  const el = document.getElementById('health');
  try {
    await call('/healthz', undefined, { timeoutMs: 5000, quiet: true });
    el.textContent = 'daemon up';
    el.className = 'health ok';
  } catch {
    el.textContent = 'daemon down';
    el.className = 'health bad';
  }
}

window.addEventListener('hashchange', show);
show();
health();
initGraphView();
