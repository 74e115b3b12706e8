// gradwise playground: the page. The session trains (PROTOCOL.md); this module only sends the
// user's settings and commands through a transport (transport.js: the WebSocket today) and draws
// what comes back.
//
// About 1,100 lines on purpose: the page's one state (settings, session replies) and the handler
// of every control and message, which read and write that state; what needs none of it lives
// apart (draw.js drawing, net.js the network view, url.js the URL hash, transport.js the wire).

import {
  drawClassMap, drawColorbar, drawDatasetIcon, drawProbMap, drawHeatmap, drawLandscape, drawLossChart, drawPoints,
  floats, CHART_TEXT, classColor, classColorCss, niceTicks, symmetricScale, viridis,
} from './draw.js';
import { NetworkView, FEATURE_LABEL } from './net.js';
import { webSocketTransport } from './transport.js';
import { decodeHash, encodeHash } from './url.js';

const $ = (id) => document.getElementById(id);

const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REG_RATES = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const DATASET_LABEL = {
  circle: 'circle', xor: 'xor', gauss: 'gauss', spiral: 'spiral', regression_plane: 'plane',
  regression_gauss: 'bumps', will_i_pass: 'will I pass?', upload: 'your CSV', three_blobs: '3 blobs',
};
// the lecture's synthetic set keeps its units (gw.data.will_i_pass)
const AXES = { will_i_pass: ['x₁ lectures attended', 'x₂ hours on the project'] };
const ACTIVATION_LABEL = { relu: 'ReLU', tanh: 'Tanh', sigmoid: 'Sigmoid', linear: 'Linear' };
const OPTIMIZER_LABEL = {
  sgd: 'SGD', adam: 'Adam', adamw: 'AdamW', adagrad: 'Adagrad', adadelta: 'Adadelta', rmsprop: 'RMSprop',
};
/**
 * Lessons: a prepared experiment (settings over the defaults) and one sentence of what to try.
 * Each is a link (`#lesson=NAME&...`), so a teacher can also hand it out.
 */
const LESSONS = [
  {
    id: 'lr-too-high', name: 'Learning rate too high',
    settings: { dataset: 'circle', features: ['x1', 'x2'], hidden: [4], dropout: [0], optimizer: 'sgd', optimizer_params: {}, learning_rate: 10, activation: 'tanh' },
    text: 'Plain SGD with learning rate 10: press play and watch the losses leap up and down for dozens of epochs; press reset, pick 0.03 and compare the curves (or lower the rate while it trains: no restart).',
  },
  {
    id: 'overfitting', name: 'Overfitting and dropout',
    settings: { dataset: 'circle', noise: 50, n_points: 100, train_ratio: 30, features: ['x1', 'x2', 'x1^2', 'x2^2', 'x1*x2', 'sin(x1)', 'sin(x2)'], hidden: [8, 8, 8], dropout: [0, 0, 0], learning_rate: 0.03, optimizer: 'adam', optimizer_params: {}, activation: 'relu' },
    text: 'Few noisy points and a big network: press play and watch the training loss fall while the test loss climbs; then set each layer’s dropout to 0.3 (or L2 regularization) and compare.',
  },
  {
    id: 'early-stopping', name: 'Early stopping',
    settings: { dataset: 'circle', noise: 50, n_points: 100, train_ratio: 30, features: ['x1', 'x2', 'x1^2', 'x2^2', 'x1*x2', 'sin(x1)', 'sin(x2)'], hidden: [8, 8, 8], dropout: [0, 0, 0], learning_rate: 0.03, optimizer: 'adam', optimizer_params: {}, activation: 'relu', early_stopping: true, patience: 20, restore_best: true },
    text: 'The same overfitting network with early stopping: press play; training stops 20 epochs after the best test loss and the best weights come back (see the chart).',
  },
  {
    id: 'features-vs-depth', name: 'Features vs depth',
    settings: { dataset: 'circle', features: ['x1', 'x2'], hidden: [], dropout: [], learning_rate: 0.03, optimizer: 'adam', optimizer_params: {}, activation: 'tanh' },
    text: 'No hidden layer and only x₁, x₂: press play, a straight line cannot separate the circle. Switch on X₁² and X₂² — or instead add a hidden layer of 3 neurons — and play again.',
  },
];
// Page-only options of the link (never sent to the session): classroom mode and lessons.
const PAGE_OPTIONS = ['hide', 'lesson'];

// The per-epoch series the state's `history_append` carries (PROTOCOL.md; v1 sends the first three).
const HISTORY_KEYS = ['epoch', 'train_loss', 'test_loss', 'train_accuracy', 'test_accuracy', 'penalty', 'lr'];
function emptyHistory() {
  return Object.fromEntries(HISTORY_KEYS.map((k) => [k, []]));
}

/** Everything the page knows; also read by the browser tests (window.playground). */
const app = {
  transport: null, // transport.js: the only part that knows how messages travel
  session: null,
  defaults: null,
  settings: null, // the last settings the server confirmed (normalized)
  data: null,
  state: null,
  history: emptyHistory(),
  marks: [], // epochs at which a mid-run change (live setting, edit) applied
  landscape: null,
  errors: [], // messages shown to the user
  updates: 0, // state messages received
  connected: false,
  hover: null,
  upload: null, // the last uploaded file name
  page: {}, // the link's page-only options (hide, lesson)
};
window.playground = app;

// ---------------------------------------------------------------- helpers
// After a mouse or touch click a button gives its focus back, so that space plays again; after
// the keyboard (Enter, space) it keeps it, so that Tab goes on from there.
let lastInput = 'key'; // what the user pressed last: a pointer or a key
document.addEventListener('pointerdown', () => { lastInput = 'pointer'; }, true);
document.addEventListener('keydown', () => { lastInput = 'key'; }, true);
function releaseIfPointer(el) {
  if (el && lastInput === 'pointer') el.blur();
}
// `choices` (PROTOCOL.md): lists of names, or objects name -> default hyperparameters
const names = (x) => (Array.isArray(x) ? x : Object.keys(x || {}));
const isRegressionSet = (d) => (app.defaults?.choices?.regression_datasets || []).includes(d);
const limit = (key, fallback) => {
  const v = app.defaults?.limits?.[key];
  return typeof v === 'number' ? v : fallback;
};
const maxLayers = () => limit('max_layers', 6);
const maxNeurons = () => limit('max_neurons', 8);
const fmtLoss = (v) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
  return v === 0 || v >= 0.001 ? v.toFixed(3) : v.toExponential(1);
};

function send(msg) {
  if (app.transport?.send(msg)) return true;
  if (app.transport?.isClosed()) {
    // a closed session (idle, or the server restarted): a new one with the URL's settings
    showError('starting a new session with the settings of the URL…');
    connect();
  }
  return false;
}

/** Send a subset of the settings; the server answers the normalized whole or an error. */
function change(partial) {
  // each settings message sent is answered by one 'settings' or 'error'
  if (send({ type: 'settings', settings: partial })) app.inflight = (app.inflight || 0) + 1;
}

let errorTimer = null;
function showError(message) {
  app.errors.push(message);
  $('error-text').textContent = message;
  $('error').hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { $('error').hidden = true; }, 12000);
}
$('error-close').addEventListener('click', () => { $('error').hidden = true; });

function fillSelect(sel, values, label = (v) => String(v)) {
  const cur = sel.value;
  sel.innerHTML = '';
  for (const v of values) {
    const o = document.createElement('option');
    o.value = String(v);
    o.textContent = label(v);
    sel.appendChild(o);
  }
  if (values.map(String).includes(cur)) sel.value = cur;
}

function setSelect(sel, value, label = (v) => String(v)) {
  if (![...sel.options].some((o) => o.value === String(value))) {
    const o = document.createElement('option');
    o.value = String(value);
    o.textContent = label(value);
    sel.appendChild(o);
  }
  sel.value = String(value);
}

// ---------------------------------------------------------------- controls
const net = new NetworkView($('network'), {
  onToggleFeature(f) {
    const all = names(app.defaults.choices.features);
    const cur = app.settings.features;
    const next = all.filter((x) => (x === f ? !cur.includes(x) : cur.includes(x)));
    if (next.length === 0) { showError('at least one input feature must stay on'); return; }
    change({ features: next });
  },
  onNeurons(l, d) {
    const hidden = [...app.settings.hidden];
    const n = hidden[l] + d;
    if (n < 1 || n > maxNeurons()) return;
    hidden[l] = n;
    change({ hidden });
  },
  onDropout(l, v) {
    const dropout = [...app.settings.dropout];
    dropout[l] = v;
    change({ dropout });
  },
  onHoverNeuron(info) {
    // inputs and hidden neurons take over the big output; so does one class's output neuron
    // of a K-class network (its probability); a single output neuron is the output itself
    const isOut = info && info.layer === app.settings.hidden.length + 1;
    app.hover = info && (!isOut || nClasses() > 2) ? info : null;
    scheduleDraw();
  },
  outputMap: () => outputMap(),
  onEditWeight(g, x, y) {
    const w = app.state?.network?.weights?.[g.l]?.[g.i]?.[g.j];
    openEditor(x, y, `weight, layer ${g.l + 1}`, w, (value) => ({ type: 'edit', layer: g.l, from: g.i, to: g.j, value }));
  },
  onEditBias(l, j, el) {
    const b = app.state?.network?.biases?.[l]?.[j];
    const r = el.getBoundingClientRect();
    const root = $('network').getBoundingClientRect();
    openEditor(r.left - root.left, r.bottom - root.top, `bias, layer ${l + 1}`, b, (value) => ({ type: 'edit', layer: l, bias: j, value }));
  },
  gradText: (g) => gradText(g),
});

/** A small box over the diagram to type a new weight or bias; Enter sends, Escape closes. */
function openEditor(x, y, what, current, message) {
  closeEditor();
  const box = document.createElement('form');
  box.className = 'editor';
  box.id = 'editor';
  const root = $('network');
  box.style.left = `${Math.max(0, Math.min(x, root.clientWidth - 230))}px`;
  box.style.top = `${y + 8}px`;
  const lab = document.createElement('label');
  lab.htmlFor = 'editor-value';
  lab.textContent = what;
  const inp = document.createElement('input');
  inp.id = 'editor-value';
  inp.type = 'number';
  inp.step = 'any';
  const lim = limit('edit_value', 100);
  inp.min = String(-lim);
  inp.max = String(lim);
  inp.value = typeof current === 'number' ? String(+current.toPrecision(4)) : '';
  const ok = document.createElement('button');
  ok.type = 'submit';
  ok.className = 'flat';
  ok.textContent = 'set';
  box.append(lab, inp, ok);
  const back = document.activeElement;
  box.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = Number(inp.value);
    if (inp.value.trim() === '' || !Number.isFinite(v)) { showError(`${what}: type a number`); return; }
    if (send(message(v))) app.editSent = true;
    closeEditor();
    if (back && back !== document.body && document.contains(back)) back.focus();
  });
  box.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); closeEditor(); if (back && document.contains(back)) back.focus(); }
    e.stopPropagation(); // typing a number is not a shortcut
  });
  box.addEventListener('focusout', (e) => { if (!box.contains(e.relatedTarget)) setTimeout(closeEditor, 0); });
  root.appendChild(box);
  inp.focus();
  inp.select();
}
function closeEditor() { $('editor')?.remove(); }

// ---------------------------------------------------------------- backpropagation, one mini-batch
const fx = (v) => (typeof v === 'number' && Number.isFinite(v) ? (Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2)) : '–');

/**
 * The chain rule of one link (l: i -> j) from the session's `backprop` message (gradwise's
 * autograd): the chosen sample's a_i and delta_j, the factors along the strongest path from j to
 * the output, the batch's dJ/dw and the plain gradient step w - eta * dJ/dw. The page multiplies
 * nothing but the path's factors for display; every number it shows comes from the message.
 */
function gradText(g) {
  const m = app.backprop;
  if (!m) return '';
  const W = m.updates && app.state?.network?.weights;
  const f = m.forward || {};
  const a = f.a?.[g.l]?.[g.i];
  const delta = m.delta || [];
  const L = delta.length; // weight layers
  const w = app.state?.network?.weights?.[g.l]?.[g.i]?.[g.j];
  const from = g.l === 0 ? (FEATURE_LABEL[app.state?.network?.inputs?.[g.i]] || `input ${g.i + 1}`) : `neuron ${g.i + 1} of layer ${g.l}`;
  const to = g.l === L - 1 ? (L && (m.delta[L - 1]?.length || 1) > 1 ? `output ${g.j}` : 'the output') : `neuron ${g.j + 1} of layer ${g.l + 1}`;
  const lines = [`link ${from} → ${to}: w = ${fx(w)}`];
  lines.push(`chain rule for point #${m.indices?.[m.sample] ?? m.sample} of the batch:`);
  lines.push(`  ∂J/∂w = a · δ,  a = ${fx(a)} (the input of the link),  δ = ∂J/∂z = ${fx(delta[g.l]?.[g.j])}`);
  // one path from j to the output: at each layer the next neuron with the largest |w·δ|
  if (g.l < L - 1 && W) {
    const parts = [];
    let j = g.j;
    for (let l = g.l + 1; l < L; l++) {
      const d = f.dadz?.[l - 1]?.[j];
      let best = 0, bv = -1;
      (W[l]?.[j] || []).forEach((wk, k) => {
        const v = Math.abs(wk * (delta[l]?.[k] ?? 0));
        if (v > bv) { bv = v; best = k; }
      });
      parts.push(`f′(z)=${fx(d)} · w=${fx(W[l]?.[j]?.[best])}`);
      j = best;
    }
    lines.push(`  δ = f′(z) · Σₖ wₖ·δₖ; one path to the output: δ ≈ ${parts.join(' · ')} · δ_out=${fx(delta[L - 1]?.[j])}`);
  }
  const grad = m.grads?.weights?.[g.l]?.[g.i]?.[g.j];
  const upd = m.updates?.weights?.[g.l]?.[g.i]?.[g.j];
  lines.push(`batch of ${m.indices?.length ?? '?'} points (mean loss J = ${fx(m.loss)}): ∂J/∂w = ${fx(grad)}`);
  const par = (v) => (typeof v === 'number' && v < 0 ? `(${fx(v)})` : fx(v));
  lines.push(`w ← w − η·∂J/∂w = ${fx(w)} − ${m.lr} × ${par(grad)} = ${fx(upd)}`);
  if (m.optimizer && m.optimizer !== 'sgd') lines.push(`(plain gradient descent; ${OPTIMIZER_LABEL[m.optimizer] || m.optimizer}'s own step differs)`);
  if (m.penalty_grads) lines.push(`(without the penalty's ∂R/∂w = ${fx(m.penalty_grads.weights?.[g.l]?.[g.i]?.[g.j])})`);
  return lines.join('\n');
}

function requestBackprop(batch) {
  app.bpBatch = batch;
  $('backprop-caption').textContent = 'computing one mini-batch step…';
  send({ type: 'backprop', batch, sample: 0 });
}
$('backprop').addEventListener('click', (e) => { releaseIfPointer(e.currentTarget); requestBackprop(0); });
$('backprop-next').addEventListener('click', (e) => { releaseIfPointer(e.currentTarget); requestBackprop((app.bpBatch || 0) + 1); });
$('backprop-off').addEventListener('click', (e) => { releaseIfPointer(e.currentTarget); showBackprop(null); });

function showBackprop(msg) {
  app.backprop = msg;
  net.setGrads(msg);
  $('backprop-next').hidden = !msg;
  $('backprop-off').hidden = !msg;
  if (!msg) { $('backprop-caption').textContent = ''; return; }
  const n = msg.indices?.length ?? 0;
  $('backprop-caption').textContent = `Mini-batch ${msg.batch} at epoch ${msg.epoch}: ${n} training points, loss J = ${fx(msg.loss)}. `
    + 'Links show ∂J/∂w (blue positive, orange negative; thickness: size relative to the largest), '
    + 'computed by gradwise’s autograd and not applied. Hover a link for its chain rule.';
}
app.net = net;

function buildControls(defaults) {
  const ch = defaults.choices || {};
  fillSelect($('activation'), names(ch.activations), (v) => ACTIVATION_LABEL[v] || v);
  fillSelect($('regularization'), names(ch.regularizations), (v) => (v === 'none' ? 'None' : v.toUpperCase()));
  fillSelect($('optimizer'), names(ch.optimizers), (v) => OPTIMIZER_LABEL[v] || v);
  fillSelect($('schedule'), names(ch.schedules), (v) => v);
  fillSelect($('learning_rate'), LEARNING_RATES);
  fillSelect($('regularization_rate'), REG_RATES);
  const box = $('datasets');
  box.innerHTML = '';
  for (const d of names(ch.datasets)) {
    const b = document.createElement('button');
    b.className = 'dataset';
    b.dataset.dataset = d;
    b.title = d === 'will_i_pass' ? '"Will I pass this class?" (synthetic: lectures attended, hours on the project)' : d;
    const cv = document.createElement('canvas');
    cv.width = cv.height = 48;
    drawDatasetIcon(cv.getContext('2d'), d);
    b.appendChild(cv);
    b.appendChild(document.createTextNode(DATASET_LABEL[d] || d));
    b.addEventListener('click', () => {
      releaseIfPointer(b);
      if (d === 'upload' && !app.upload) { $('upload').click(); return; }
      change({ dataset: d, problem: isRegressionSet(d) ? 'regression' : 'classification' });
    });
    box.appendChild(b);
  }
  const lim = defaults.limits || {};
  for (const k of ['n_points', 'batch_size']) {
    if (Array.isArray(lim[k])) [$(k).min, $(k).max] = lim[k];
  }
}

function paramRows(box, params, values, key) {
  // params: the choice's defaults; a change sends them all (with the changed one), so that
  // a required hyperparameter is never left out
  box.innerHTML = '';
  for (const [k, def] of Object.entries(params || {})) {
    const v = values && k in values ? values[k] : def;
    const inline = box.classList.contains('inline-params');
    const row = document.createElement('div');
    row.className = inline ? 'param' : 'field-row';
    const id = `${key}-${k}`;
    const lab = document.createElement('label');
    lab.htmlFor = id;
    lab.textContent = k;
    const kind = key === 'optimizer_params' ? 'optimizer_info' : 'schedule_info';
    const name = key === 'optimizer_params' ? app.settings?.optimizer : app.settings?.schedule;
    const info = app.defaults?.choices?.[kind]?.[name]?.params?.[k];
    const help = info?.help || null; // one line per hyperparameter, from the session
    if (help) lab.title = help;
    const inp = document.createElement('input');
    inp.id = id;
    inp.dataset.param = k;
    if (typeof def === 'boolean') {
      inp.type = 'checkbox';
      inp.checked = !!v;
    } else if (Array.isArray(def)) {
      inp.type = 'text';
      inp.value = (v || []).join(', ');
    } else {
      inp.type = 'number';
      inp.step = 'any';
      inp.value = String(v);
      if (typeof info?.min === 'number') inp.min = String(info.min);
      if (typeof info?.max === 'number') inp.max = String(info.max);
    }
    inp.addEventListener('change', () => {
      const cur = { ...params, ...(app.settings[key] || {}) };
      if (inp.type === 'checkbox') cur[k] = inp.checked;
      else if (Array.isArray(def)) cur[k] = inp.value.split(',').map((t) => Number(t.trim()));
      else cur[k] = Number(inp.value);
      change({ [key]: cur });
    });
    if (inline && inp.type === 'checkbox') {
      // a checkbox sits in its label
      lab.prepend(inp);
      row.appendChild(lab);
    } else {
      row.appendChild(lab);
      row.appendChild(inp);
    }
    if (help) {
      const h = document.createElement('span');
      h.className = 'help';
      h.id = `${id}-help`;
      h.textContent = help;
      inp.setAttribute('aria-describedby', h.id);
      row.appendChild(h);
    }
    if (k === 'maximize' && v) row.classList.add('warn');
    box.appendChild(row);
  }
}

/** The learning rate an optimizer is usually run with (`choices.optimizer_info[name].lr`). */
function usualLearningRate(name) {
  const lr = app.defaults?.choices?.optimizer_info?.[name]?.lr;
  return typeof lr === 'number' ? lr : null;
}

/** The default hyperparameters of an optimizer or schedule (`choices.optimizers[name]`). */
function paramsDefaults(kind, name) {
  return { ...(app.defaults?.choices?.[kind]?.[name] || {}) };
}

/** Show confirmed settings in every control and in the URL. */
function applySettings(s) {
  setSelect($('learning_rate'), s.learning_rate);
  $('activation').value = s.activation;
  $('regularization').value = s.regularization;
  setSelect($('regularization_rate'), s.regularization_rate);
  $('regularization_rate').disabled = s.regularization === 'none';
  $('problem').value = s.problem;
  $('optimizer').value = s.optimizer;
  $('schedule').value = s.schedule;
  for (const k of ['train_ratio', 'noise', 'batch_size', 'n_points']) {
    if (s[k] === undefined) continue;
    $(k).value = s[k];
    $(`${k}-out`).textContent = s[k];
  }
  $('show_test').checked = !!s.show_test;
  $('discretize').checked = !!s.discretize;
  $('early_stopping').checked = !!s.early_stopping;
  $('patience').value = s.patience;
  $('patience').disabled = !s.early_stopping;
  $('restore_best').checked = !!s.restore_best;
  $('restore_best').disabled = !s.early_stopping;
  $('seed').value = s.seed;
  for (const b of document.querySelectorAll('.dataset')) b.classList.toggle('selected', b.dataset.dataset === s.dataset);
  paramRows($('optimizer-params'), paramsDefaults('optimizers', s.optimizer), s.optimizer_params, 'optimizer_params');
  paramRows($('schedule-params'), paramsDefaults('schedules', s.schedule), s.schedule_params, 'schedule_params');
  $('n-layers').textContent = String(s.hidden.length);
  $('n-layers-s').textContent = s.hidden.length === 1 ? '' : 's';
  $('add-layer').disabled = s.hidden.length >= maxLayers();
  $('remove-layer').disabled = s.hidden.length === 0;
  $('export-points').hidden = s.dataset !== 'upload';
  rebuildNetwork();
  for (const [l, inp] of [...document.querySelectorAll('.layer-ctl .dropout')].entries()) {
    inp.value = String(s.dropout[l] ?? 0); // also undoes a refused value
  }
  $('optimizer-help').textContent = app.defaults?.choices?.optimizer_info?.[s.optimizer]?.help || '';
  if (app.data?.loss?.label) $('loss-name').textContent = `Loss: ${app.data.loss.label}`;
  app.barKey = null; // the colour bar is redrawn with the next frame
  writeHash();
  scheduleDraw();
}

/** The URL shows the confirmed settings and the link's page-only options. */
function writeHash() {
  if (!app.settings) return;
  let hash = encodeHash(app.settings);
  for (const k of PAGE_OPTIONS) {
    if (app.page[k]) hash += `&${k}=${encodeURIComponent(app.page[k])}`;
  }
  if (location.hash.slice(1) !== hash) history.replaceState(null, '', `#${hash}`);
}

/** Classroom mode: `hide=optimizer,regularization,...` hides those controls (data-hide names). */
function applyHidden() {
  const hide = new Set(String(app.page.hide || '').split(',').map((x) => x.trim()).filter(Boolean));
  for (const el of document.querySelectorAll('[data-hide]')) {
    const hidden = el.dataset.hide.split(' ').some((n) => hide.has(n));
    if (hidden) el.setAttribute('data-hidden-by-link', '');
    else el.removeAttribute('data-hidden-by-link');
  }
}

function applyPageOptions() {
  applyHidden();
  if (app.defaults) buildLessons(app.defaults);
  const lesson = LESSONS.find((x) => x.id === app.page.lesson);
  $('lesson').hidden = !lesson;
  $('lesson-name').textContent = lesson ? `${lesson.name}:` : '';
  $('lesson-text').textContent = lesson ? lesson.text : '';
}

/** The lessons' links: each a whole prepared experiment (its settings over the defaults). */
function buildLessons(defaults) {
  const box = $('lesson-links');
  box.innerHTML = '';
  for (const lesson of LESSONS) {
    const a = document.createElement('a');
    const settings = { ...defaults.settings, ...lesson.settings };
    const keep = app.page.hide ? `&hide=${encodeURIComponent(app.page.hide)}` : '';
    a.href = `#${encodeHash(settings)}&lesson=${lesson.id}${keep}`;
    a.dataset.lesson = lesson.id;
    a.textContent = lesson.name;
    box.appendChild(a);
  }
}
$('lesson-close').addEventListener('click', () => {
  app.page.lesson = '';
  applyPageOptions();
  writeHash();
});

function rebuildNetwork() {
  if (!app.settings || !app.defaults) return;
  const domain = app.data?.domain || { x1: [-6, 6], x2: [-6, 6] };
  const K = nClasses();
  net.build(names(app.defaults.choices.features), app.settings.features, app.settings.hidden,
    app.settings.dropout, domain, maxNeurons(), K > 2 ? K : 1);
  applyHidden();
}

const bindSelect = (id, parse = (v) => v) => $(id).addEventListener('change', (e) => {
  change({ [id]: parse(e.target.value) });
});
bindSelect('learning_rate', Number);
bindSelect('activation');
bindSelect('regularization');
bindSelect('regularization_rate', Number);
$('optimizer').addEventListener('change', (e) => {
  const name = e.target.value;
  const msg = { optimizer: name, optimizer_params: paramsDefaults('optimizers', name) };
  // the optimizer's usual learning rate (Adadelta at 0.03 barely moves): the session sets it
  // when the message has no learning_rate (PROTOCOL.md); the page says so
  const usual = usualLearningRate(name);
  let note = '';
  if (usual != null && usual !== app.settings.learning_rate) {
    note = `Learning rate set to ${usual}, ${OPTIMIZER_LABEL[name] || name}’s usual one (was ${app.settings.learning_rate}).`;
  }
  $('optimizer-note').textContent = note;
  change(msg);
});
$('optimizer-more').addEventListener('click', (e) => {
  const group = e.currentTarget.closest('.optimizer-group');
  const open = group.classList.toggle('open');
  e.currentTarget.setAttribute('aria-expanded', String(open));
  e.currentTarget.textContent = open ? 'hide its settings' : 'its settings';
});
$('problem').addEventListener('change', (e) => {
  const want = e.target.value;
  const sets = names(app.defaults.choices.datasets).filter((d) => d !== 'upload');
  const d = sets.find((x) => isRegressionSet(x) === (want === 'regression'));
  change({ problem: want, dataset: d });
});
for (const k of ['train_ratio', 'noise', 'batch_size', 'n_points']) {
  $(k).addEventListener('input', (e) => { $(`${k}-out`).textContent = e.target.value; });
  $(k).addEventListener('change', (e) => { releaseIfPointer(e.target); change({ [k]: Number(e.target.value) }); });
}
for (const k of ['show_test', 'discretize']) {
  $(k).addEventListener('change', (e) => {
    releaseIfPointer(e.target); // space stays play/pause
    // page-only: drawn at once, confirmed (and put in the URL) by the server
    app.settings[k] = e.target.checked;
    if (k === 'discretize') app.barKey = null;
    scheduleDraw();
    change({ [k]: e.target.checked });
  });
}
$('early_stopping').addEventListener('change', (e) => { releaseIfPointer(e.target); change({ early_stopping: e.target.checked }); });
$('restore_best').addEventListener('change', (e) => { releaseIfPointer(e.target); change({ restore_best: e.target.checked }); });
$('patience').addEventListener('change', (e) => change({ patience: Number(e.target.value) }));
$('seed').addEventListener('change', (e) => change({ seed: Number(e.target.value) }));
// a new optimizer or schedule starts from its own default hyperparameters
$('schedule').addEventListener('change', (e) => {
  const name = e.target.value;
  // its defaults from `choices` spelled out: they include the required ones (step_size, T_max)
  change({ schedule: name, schedule_params: paramsDefaults('schedules', name) });
});

$('add-layer').addEventListener('click', (e) => {
  releaseIfPointer(e.currentTarget);
  const s = app.settings;
  if (s.hidden.length >= maxLayers()) return;
  change({ hidden: [...s.hidden, 2], dropout: [...s.dropout, 0] });
});
$('remove-layer').addEventListener('click', (e) => {
  releaseIfPointer(e.currentTarget);
  const s = app.settings;
  if (!s.hidden.length) return;
  change({ hidden: s.hidden.slice(0, -1), dropout: s.dropout.slice(0, -1) });
});

function togglePlay() {
  if (app.state?.playing) send({ type: 'pause' });
  else send({ type: 'play' });
}
$('play').addEventListener('click', (e) => { releaseIfPointer(e.currentTarget); togglePlay(); });
$('step').addEventListener('click', (e) => { releaseIfPointer(e.currentTarget); send({ type: 'step' }); });
$('reset').addEventListener('click', (e) => { releaseIfPointer(e.currentTarget); send({ type: 'reset' }); });
$('regenerate').addEventListener('click', (e) => { releaseIfPointer(e.currentTarget); send({ type: 'regenerate' }); });

document.addEventListener('keydown', (e) => {
  const t = e.target;
  if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
  // space plays only when no control has focus (a focused button, checkbox or neuron takes it)
  const free = !t || t === document.body || t === document.documentElement;
  if (e.key === ' ') {
    if (free) { e.preventDefault(); togglePlay(); }
    return;
  }
  if (t && (t.tagName === 'SELECT' || t.tagName === 'TEXTAREA' || t.isContentEditable
    || (t.tagName === 'INPUT' && !['checkbox', 'range', 'file', 'radio'].includes(t.type)))) return;
  if (e.key === 's' || e.key === 'S') { e.preventDefault(); send({ type: 'step' }); }
  else if (e.key === 'r' || e.key === 'R') { e.preventDefault(); send({ type: 'reset' }); }
});

$('upload-button').addEventListener('click', (e) => {
  releaseIfPointer(e.currentTarget);
  $('upload').click();
});
$('upload').addEventListener('change', async (e) => {
  const file = e.target.files[0];
  e.target.value = '';
  if (!file) return;
  const max = limit('upload_bytes', 1 << 20);
  if (file.size > max) {
    showError(`${file.name}: ${file.size} bytes is over the upload limit of ${max} bytes`);
    return;
  }
  const content = await file.text();
  app.upload = file.name;
  send({ type: 'upload', name: file.name, content });
});

for (const dims of [1, 2]) {
  $(`landscape-${dims}d`).addEventListener('click', (e) => {
    releaseIfPointer(e.currentTarget);
    $('landscape-caption').textContent = `computing a ${dims}D slice…`;
    e.currentTarget.classList.add('busy');
    const msg = { type: 'landscape', dims, resolution: Number($('landscape-res').value) };
    msg.directions = $('landscape-dirs').value;
    send(msg);
  });
}

// ---------------------------------------------------------------- drawing
function yScale() {
  if (!app.data || app.data.problem !== 'regression') return 1;
  let m = 0;
  for (const p of app.data.train) m = Math.max(m, Math.abs(p[2]));
  for (const p of app.data.test) m = Math.max(m, Math.abs(p[2]));
  return m || 1;
}
let Y_SCALE = 1;

/** Output value -> colour coordinate in [-1, 1]. */
function outputMap() {
  if (app.data?.problem === 'regression') return (v) => v / Y_SCALE;
  return (p) => 2 * p - 1;
}
const nClasses = () => (app.data?.problem === 'regression' ? 0 : (app.data?.classes || 2));
const labelColor = (y) => {
  if (app.data?.problem === 'regression') return colorFor(y / Y_SCALE);
  const K = nClasses();
  if (K > 2) {
    // a point a little darker than its class's map so that it stands out
    return `rgb(${classColor(Math.round(y), K).map((x) => Math.round(x * 0.85)).join(',')})`;
  }
  return colorFor(y > 0.5 ? 1 : -1);
};
function colorFor(t) {
  const v = Math.max(-1, Math.min(1, t));
  const [a, b, f] = v < 0 ? [[232, 234, 235], [245, 147, 34], -v] : [[232, 234, 235], [8, 119, 189], v];
  // points a little darker than the background so they stand out
  const c = a.map((x, i) => Math.round((x + (b[i] - x) * Math.max(f, 0.55)) * 0.92));
  return `rgb(${c.join(',')})`;
}

// The points change only with the data: drawn once onto a layer that each frame copies.
const points = { canvas: null, key: null };
function pointsLayer(target, showTest) {
  const key = `${target.width}x${target.height}:${showTest}`;
  if (points.canvas && points.key === key && points.data === app.data) return points.canvas;
  const c = points.canvas || document.createElement('canvas');
  c.width = target.width;
  c.height = target.height;
  const ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  drawPoints(ctx, app.data.train, app.data.domain, labelColor, false);
  if (showTest) drawPoints(ctx, app.data.test, app.data.domain, labelColor, true);
  Object.assign(points, { canvas: c, key, data: app.data });
  return c;
}

let drawPending = false;
function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; draw(); });
}

const drawTimes = [];
function draw() {
  const t0 = performance.now();
  drawFrame();
  drawTimes.push(performance.now() - t0);
  if (drawTimes.length > 50) drawTimes.shift();
  app.drawMs = drawTimes.reduce((a, b) => a + b, 0) / drawTimes.length;
}

function drawFrame() {
  const st = app.state;
  const s = app.settings;
  if (!s) return;
  $('epoch').textContent = String(st?.epoch ?? 0).padStart(6, '0').replace(/(\d{3})(\d{3})$/, '$1,$2');
  $('test-loss').textContent = fmtLoss(st?.test_loss);
  $('train-loss').textContent = fmtLoss(st?.train_loss);
  drawNumbers(st, s);
  const playing = !!st?.playing;
  $('play').innerHTML = playing ? '&#10074;&#10074;' : '&#9654;';
  $('play').classList.toggle('playing', playing);
  $('play').setAttribute('aria-label', playing ? 'Pause' : 'Play');
  const es = st?.early_stopping;
  let esText = '';
  if (es) {
    if (es.stopped_epoch != null) {
      esText = `early stopping: stopped at epoch ${es.stopped_epoch}, best epoch ${es.best_epoch}${es.restored ? ' (weights restored)' : ''}`;
    } else if (es.best_epoch != null) esText = `early stopping: best epoch ${es.best_epoch}, patience ${es.patience}`;
  }
  if (s.schedule !== 'none' && typeof st?.lr === 'number') {
    esText = `learning rate now ${+st.lr.toPrecision(3)}${esText ? ' · ' : ''}${esText}`;
  }
  if (st?.notice) esText = `${st.notice}${esText ? ' · ' : ''}${esText}`;
  if (st?.stop_reason === 'diverged') esText = `training diverged: press reset, then lower the learning rate${esText ? ' · ' : ''}${esText}`;
  $('es-status').textContent = esText;
  drawLossChart($('loss-chart').getContext('2d'), app.history, es, app.marks);
  if (st) net.update(st, !!s.discretize);
  // the big output (or the hovered neuron)
  const ctx = $('output').getContext('2d');
  const hm = st?.heatmaps;
  let caption = '';
  // what the colours mean follows what is shown: the output, a hidden neuron or an input
  let legend = null;
  if (hm) {
    const h = app.hover;
    const outLayer = s.hidden.length + 1;
    if (h && h.layer === outLayer && hm.output_probs?.[h.index]) {
      const K = nClasses();
      drawProbMap(ctx, hm.output_probs[h.index], hm.size, h.index, K);
      caption = `output neuron of class ${h.index}`;
      legend = { lo: '0', hi: '1', probClass: h.index, note: `colour: the predicted probability of class ${h.index} (softmax)` };
    } else if (h && h.layer > 0 && h.layer < outLayer && hm.neurons?.[h.layer]?.[h.index] != null) {
      const v = floats(hm.neurons[h.layer][h.index]);
      drawHeatmap(ctx, v, hm.size, symmetricScale(v), !!s.discretize);
      caption = `layer ${h.layer}, neuron ${h.index + 1}`;
      legend = valueLegend(v, `the neuron's output (${ACTIVATION_LABEL[s.activation] || s.activation})`);
    } else if (h && h.layer === 0 && st.network?.inputs) {
      const i = st.network.inputs.indexOf(h.name);
      if (i >= 0 && hm.neurons?.[0]?.[i] != null) {
        const v = floats(hm.neurons[0][i]);
        drawHeatmap(ctx, v, hm.size, symmetricScale(v));
        caption = `input ${FEATURE_LABEL[h.name] || h.name}`;
        legend = valueLegend(v, 'the feature’s value (standardized)');
      } else drawOutput(ctx, hm, s);
    } else drawOutput(ctx, hm, s);
  } else {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  }
  if (app.data) {
    ctx.drawImage(pointsLayer(ctx.canvas, !!s.show_test), 0, 0);
    const d = app.data.domain;
    const r = (v) => +Number(v).toPrecision(3);
    const [n1, n2] = AXES[s.dataset] || ['x₁', 'x₂'];
    if (!caption) caption = `horizontal ${n1}, vertical ${n2} · ${app.data.train.length} training, ${app.data.test.length} test points`;
  }
  $('output-caption').textContent = caption;
  if (!legend) legend = outputLegend(s);
  $('cb-lo').textContent = legend.lo;
  $('cb-hi').textContent = legend.hi;
  const barKey = `${legend.classes || 0}:${legend.probClass ?? ''}:${!!s.discretize}`;
  if (barKey !== app.barKey) {
    app.barKey = barKey;
    const bctx = $('colorbar').getContext('2d');
    if (legend.probClass != null) {
      const W = bctx.canvas.width, H = bctx.canvas.height;
      const col = classColor(legend.probClass, nClasses());
      for (let x = 0; x < W; x++) {
        const f = x / (W - 1);
        bctx.fillStyle = `rgb(${[232, 234, 235].map((m, k) => Math.round(m + (col[k] - m) * f)).join(',')})`;
        bctx.fillRect(x, 0, 1, H);
      }
    } else if (legend.classes) {
      const W = bctx.canvas.width, H = bctx.canvas.height;
      for (let c = 0; c < legend.classes; c++) {
        bctx.fillStyle = classColorCss(c, legend.classes);
        bctx.fillRect(Math.floor((c * W) / legend.classes), 0, Math.ceil(W / legend.classes), H);
      }
    } else drawColorbar(bctx, !!s.discretize);
  }
  $('legend-note').textContent = legend.note;
  drawAxes();
}

const pct = (v) => (typeof v === 'number' && Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : '');

/** Accuracy beside each loss, the penalty apart, per-class accuracy, the restored-weights note. */
function drawNumbers(st, s) {
  const acc = (v) => (pct(v) ? `accuracy ${pct(v)}` : '');
  $('test-acc').textContent = acc(st?.test_accuracy);
  $('train-acc').textContent = acc(st?.train_accuracy);
  const pen = st?.penalty;
  $('penalty').hidden = !(typeof pen === 'number' && s.regularization !== 'none');
  if (!$('penalty').hidden) {
    $('penalty').textContent = `${s.regularization.toUpperCase()} penalty ${fmtLoss(pen)} (objective: loss + penalty ${fmtLoss(st.train_loss + pen)})`;
  }
  const pc = st?.per_class_accuracy;
  const K = app.data?.classes || 0;
  $('per-class').hidden = !(pc && pc.test && K > 2);
  if (!$('per-class').hidden) {
    const box = $('per-class');
    box.textContent = 'test accuracy per class:';
    pc.test.forEach((v, c) => {
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = classColorCss(c, K);
      box.appendChild(sw);
      box.appendChild(document.createTextNode(`${c}: ${v == null ? '–' : pct(v)}`));
    });
  }
  const restored = !!st?.restored || (st?.early_stopping?.restored && st?.weights_epoch != null && st.weights_epoch !== st.epoch);
  $('restored-note').hidden = !restored;
  if (restored) {
    $('restored-note').textContent = `Early stopping restored the best weights, those of epoch ${st.weights_epoch ?? st.early_stopping?.best_epoch}: the losses, accuracies and maps shown are theirs.`;
  }
}

/** The big output map: P(class 1), the predicted class of K, or the predicted value. */
function drawOutput(ctx, hm, s) {
  const K = nClasses();
  if (K > 2 && hm.output_class) drawClassMap(ctx, hm.output_class, hm.output, hm.size, K, !!s.discretize);
  else drawHeatmap(ctx, hm.output, hm.size, outputMap(), !!s.discretize);
}

/** Legend of a symmetric map (a neuron or an input): -m .. +m around 0. */
function valueLegend(v, what) {
  let m = 1;
  for (let k = 0; k < v.length; k++) m = Math.max(m, Math.abs(v[k]));
  const t = +m.toPrecision(2);
  return { lo: `−${t}`, hi: `+${t}`, note: `colour: ${what}; orange negative, blue positive` };
}

/** Legend of the output map: the classes (and which one passes) or the predicted value. */
function outputLegend(s) {
  if (app.data?.problem === 'regression') {
    return { lo: (-Y_SCALE).toPrecision(2), hi: Y_SCALE.toPrecision(2), note: 'colour: the predicted value; points: the targets' };
  }
  const K = nClasses();
  if (K > 2) {
    return { lo: 'class 0', hi: `class ${K - 1}`, classes: K, note: `colour: the predicted class (of ${K}); shade: its predicted probability` };
  }
  if (s.dataset === 'will_i_pass') {
    return { lo: 'fail (0)', hi: 'pass (1)', note: 'blue: passes, orange: fails; the shade is the predicted probability of passing' };
  }
  return { lo: 'class 0', hi: 'class 1', note: 'colour: the predicted probability of class 1 (orange 0, blue 1)' };
}

/** Ticks along the output map's two axes, in the data's own units. */
let axesKey = '';
function drawAxes() {
  const d = app.data?.domain;
  if (!d) return;
  const key = JSON.stringify(d);
  if (key === axesKey) return;
  axesKey = key;
  const put = (box, [lo, hi], horizontal) => {
    box.innerHTML = '';
    for (const t of niceTicks(lo, hi, 5)) {
      const el = document.createElement('span');
      el.className = 'tick';
      el.textContent = String(t);
      const f = (t - lo) / (hi - lo);
      if (horizontal) el.style.left = `${f * 100}%`;
      else el.style.top = `${(1 - f) * 100}%`;
      box.appendChild(el);
    }
  };
  put($('axis-x'), d.x1, true);
  put($('axis-y'), d.x2, false);
}

// ---------------------------------------------------------------- messages
function onState(msg) {
  const h = app.history;
  const add = msg.history_append;
  const cutAt = (n) => { for (const k of HISTORY_KEYS) h[k].length = Math.min(h[k].length, n); };
  if (msg.epoch === 0 || (h.epoch.length && msg.epoch < h.epoch[h.epoch.length - 1])) {
    const keep = h.epoch.findIndex((e) => e > msg.epoch);
    if (keep >= 0) cutAt(keep);
    app.marks = app.marks.filter((e) => e < msg.epoch);
  }
  if (add && add.epoch && add.epoch.length) {
    const first = add.epoch[0];
    const cut = h.epoch.findIndex((e) => e >= first);
    if (cut >= 0) cutAt(cut);
    const n = h.epoch.length;
    for (const k of HISTORY_KEYS) {
      // a series the server does not send stays aligned with the epochs (nulls)
      h[k].length = n;
      for (let i = 0; i < n; i++) if (h[k][i] === undefined) h[k][i] = null;
      const vals = add[k] || [];
      for (let i = 0; i < add.epoch.length; i++) h[k].push(vals[i] ?? null);
    }
  }
  // a recorded mid-run change (a live setting or an edit) applies before the epoch after the
  // previous state's: mark it there on the loss chart
  const prev = app.state;
  if (prev && msg.epoch >= prev.epoch && (msg.changes ?? 0) > (prev.changes ?? 0)
    && !app.marks.includes(prev.epoch)) {
    app.marks.push(prev.epoch);
    if (app.editSent) {
      app.editSent = false;
      $('live-note').textContent = `edited at epoch ${prev.epoch}: training goes on from the edited weights (recorded for the export).`;
    }
  }
  if (msg.epoch === 0 && app.landscape) clearLandscape(); // a new network: the old slice is stale
  if (msg.epoch === 0 && app.backprop) showBackprop(null); // its gradients were of other weights
  const hm = msg.heatmaps;
  if (hm) {
    hm.output = floats(hm.output);
    if (hm.output_class) hm.output_class = floats(hm.output_class);
    if (Array.isArray(hm.output_probs)) hm.output_probs = hm.output_probs.map(floats);
    if (hm.neurons) hm.neurons = hm.neurons.map((layer) => layer.map(floats));
  }
  app.state = msg;
  app.updates += 1;
  rate.push(performance.now());
  scheduleDraw();
}

const rate = [];
setInterval(() => {
  const now = performance.now();
  while (rate.length && rate[0] < now - 2000) rate.shift();
  const ups = rate.length / 2;
  app.updatesPerSecond = ups;
  if (app.connected) {
    const what = app.state?.playing ? `${ups.toFixed(1)} updates/s` : 'paused';
    $('status').textContent = `${what} · drawing ${(app.drawMs || 0).toFixed(1)} ms`;
  }
}, 500);

function onMessage(ev) {
  let msg;
  try { msg = JSON.parse(ev.data); } catch { showError('the server sent a message that is not JSON'); return; }
  switch (msg.type) {
    case 'hello': {
      app.session = msg.session;
      app.inflight = 0;
      app.upload = null; // a new session has no upload
      app.defaults = msg.defaults;
      app.settings = msg.settings;
      buildControls(msg.defaults);
      buildLessons(msg.defaults);
      for (const what of ['config.toml', 'model.safetensors', 'points.csv']) {
        $(`export-${what.split('.')[0]}`).href = app.transport.exportHref(msg.session, what);
      }
      const hash = location.hash; // read before the URL shows the session's settings
      applySettings(msg.settings);
      followHash(hash);
      break;
    }
    case 'settings':
      noteApplied(app.settings, msg);
      app.settings = msg.settings;
      app.inflight = Math.max(0, (app.inflight || 0) - 1);
      // an echo of an earlier change while a later one is still on its way would undo the
      // later one in the controls (a quick second click): show only the newest state
      if (app.inflight === 0) applySettings(msg.settings);
      break;
    case 'data':
      app.data = msg;
      if (msg.loss?.label) $('loss-name').textContent = `Loss: ${msg.loss.label}`;
      points.data = null; // the points' colours may follow a new class count
      if (Array.isArray(msg.domain)) app.data.domain = { x1: msg.domain, x2: msg.domain };
      Y_SCALE = yScale();
      rebuildNetwork();
      scheduleDraw();
      break;
    case 'state':
      onState(msg);
      break;
    case 'landscape': {
      app.landscape = msg;
      for (const b of document.querySelectorAll('.landscape-panel .busy')) b.classList.remove('busy');
      const range = drawLandscape($('landscape').getContext('2d'), msg);
      const dirs = msg.directions === 'pca' ? 'the trajectory’s principal components'
        : 'filter-normalized random directions';
      $('landscape-caption').textContent = msg.dims === 1
        ? `training loss along ${dirs === 'the trajectory’s principal components' ? 'its first principal component' : 'one random direction'}; orange dot: the current weights; black: the trajectory (its exact losses)`
        : `training loss over ${dirs}, colour on a log scale (dark ${+range.lo.toPrecision(2)}, yellow ${+range.hi.toPrecision(2)}; bar on the right) with contours; orange dot: the current weights; white: the trajectory`;
      break;
    }
    case 'backprop':
      showBackprop(msg);
      break;
    case 'error':
      app.inflight = Math.max(0, (app.inflight || 0) - 1);
      app.editSent = false;
      showError(msg.message);
      for (const b of document.querySelectorAll('.landscape-panel .busy')) b.classList.remove('busy');
      if (app.settings) applySettings(app.settings); // nothing changed on the server: undo the control
      break;
    case 'pong':
      break;
    default:
      break;
  }
}

const LIVE_LABEL = {
  learning_rate: 'learning rate', optimizer_params: 'optimizer settings', schedule: 'schedule',
  schedule_params: 'schedule settings', regularization: 'regularization',
  regularization_rate: 'regularization rate', dropout: 'dropout', batch_size: 'batch size',
};
/** Say how a confirmed change was applied: live (training goes on) or by a restart. */
function noteApplied(before, msg) {
  if (!before || !msg.applied || msg.applied === 'page') return;
  const changed = Object.keys(msg.settings).filter((k) => JSON.stringify(msg.settings[k]) !== JSON.stringify(before[k]));
  if (!changed.length) return;
  if (msg.applied === 'live') {
    const what = changed.map((k) => LIVE_LABEL[k] || k).join(', ');
    const at = typeof msg.epoch === 'number' ? msg.epoch : app.state?.epoch;
    $('live-note').textContent = `${what} changed at epoch ${at}: no restart, training goes on from the same weights (recorded for the export).`;
  } else {
    $('live-note').textContent = '';
    app.marks = [];
  }
}

/** Send the settings of a link (the URL hash) that differ from the session's. */
function followHash(hash) {
  const fromHash = decodeHash(hash, app.settings, PAGE_OPTIONS);
  if (String(hash || '').replace(/^#/, '')) {
    // a link's page-only options stay until another link replaces them
    for (const k of PAGE_OPTIONS) {
      app.page[k] = typeof fromHash[k] === 'string' ? fromHash[k] : '';
      delete fromHash[k];
    }
    applyPageOptions();
  }
  const diff = {};
  for (const [k, v] of Object.entries(fromHash)) {
    if (JSON.stringify(v) !== JSON.stringify(app.settings[k])) diff[k] = v;
  }
  if (diff.dataset === 'upload' && app.settings.dataset !== 'upload') {
    delete diff.dataset; // an upload is not in the link: keep the session's data set
    delete diff.problem;
  }
  if (Object.keys(diff).length) change(diff);
}
let resizeTimer = null;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { net.key = ''; rebuildNetwork(); }, 150);
});

// a link pasted into this tab (only the hash changes: no reload)
window.addEventListener('hashchange', () => { if (app.settings) followHash(location.hash); });

function connect() {
  app.transport = webSocketTransport({
    onOpen() { app.connected = true; $('status').textContent = 'connected'; },
    onMessage(text) { onMessage({ data: text }); },
    onClose() {
      app.connected = false;
      $('status').textContent = 'disconnected';
      showError('the connection to the gradwise server closed; use any control to start a new '
        + 'session (is `gradwise playground` still running?)');
    },
  });
}

// An idle session is freed by the server; a tab in view is not idle, so it says so once a minute.
setInterval(() => {
  if (document.visibilityState === 'visible' && app.transport?.isOpen()) {
    app.transport.send({ type: 'ping' });
  }
}, 60000);

function landscapePlaceholder() {
  const ctx = $('landscape').getContext('2d');
  ctx.fillStyle = CHART_TEXT;
  ctx.font = '13px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.fillText('press "1D slice" or "2D slice"', ctx.canvas.width / 2, ctx.canvas.height / 2);
  ctx.textAlign = 'start';
}

function clearLandscape() {
  app.landscape = null;
  const ctx = $('landscape').getContext('2d');
  ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  $('landscape-caption').textContent = '';
  landscapePlaceholder();
}

landscapePlaceholder();
drawColorbar($('colorbar').getContext('2d'), false);
const dpr = window.devicePixelRatio || 1;
if (dpr > 1) {
  const out = $('output');
  out.width = 300 * dpr;
  out.height = 300 * dpr;
}
connect();
