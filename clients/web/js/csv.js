// A classification data set from CSV text: numeric feature columns and one
// label column, features standardised, and a seeded train/test split.

import { rng } from './datasets.js';

const LABEL_NAMES = ['label', 'class', 'target', 'y', 'species'];

function cells(line) {
  // Plain CSV: commas (or semicolons, or tabs), optional double quotes.
  const sep = line.includes(',') ? ',' : line.includes(';') ? ';' : '\t';
  return line.split(sep).map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
}

const isNum = (c) => c !== '' && Number.isFinite(Number(c));

/**
 * Parses CSV text. The label column is the one named label, class, target,
 * y or species (any case), else the last. Returns {X (standardised), y
 * (0..k-1), features: names, classes: label texts, skipped: rows dropped}
 * or throws an Error saying what is wrong with the file.
 */
export function parseCsv(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new Error('the CSV file needs at least two rows');
  let rows = lines.map(cells);
  const width = rows[0].length;
  if (width < 2) throw new Error('the CSV file needs at least one feature column and a label column');
  const header = rows[0].some((c) => !isNum(c)) && rows.length > 1 && rows[1].filter(isNum).length >= width - 1 ? rows[0] : null;
  if (header) rows = rows.slice(1);
  const names = header || rows[0].map((_, i) => (i === width - 1 ? 'label' : `x${i + 1}`));
  let li = names.findIndex((n) => LABEL_NAMES.includes(n.toLowerCase()));
  if (li < 0) li = width - 1;
  const feat = names.map((_, i) => i).filter((i) => i !== li);
  const X = [];
  const raw = [];
  let skipped = 0;
  for (const r of rows) {
    if (r.length !== width || r[li] === '' || !feat.every((i) => isNum(r[i]))) {
      skipped++;
      continue;
    }
    X.push(feat.map((i) => Number(r[i])));
    raw.push(r[li]);
  }
  if (X.length < 4) throw new Error(`only ${X.length} usable rows (rows need a number in every feature column and a label)`);
  // Classes: numbers in numeric order, else texts in alphabetical order.
  const uniq = [...new Set(raw)];
  uniq.sort((a, b) => (isNum(a) && isNum(b) ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0));
  if (uniq.length < 2) throw new Error(`the label column "${names[li]}" holds one class only`);
  if (uniq.length > 50) throw new Error(`the label column "${names[li]}" holds ${uniq.length} different values: is it a class label?`);
  const cls = new Map(uniq.map((u, k) => [u, k]));
  const y = raw.map((r) => cls.get(r));
  // Standardise each feature (mean 0, standard deviation 1).
  for (let j = 0; j < feat.length; j++) {
    const col = X.map((x) => x[j]);
    const mean = col.reduce((s, v) => s + v, 0) / col.length;
    const sd = Math.sqrt(col.reduce((s, v) => s + (v - mean) ** 2, 0) / col.length) || 1;
    for (const x of X) x[j] = (x[j] - mean) / sd;
  }
  return { X, y, features: feat.map((i) => names[i]), label: names[li], classes: uniq, skipped };
}

/** Indices of a seeded shuffle split: {train, test}, test the given share (at least one row each). */
export function split(n, testShare, seed = 5) {
  const idx = Array.from({ length: n }, (_, i) => i);
  const rand = rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const nTest = testShare > 0 ? Math.min(n - 1, Math.max(1, Math.round(n * testShare))) : 0;
  return { test: idx.slice(0, nTest), train: idx.slice(nTest) };
}
