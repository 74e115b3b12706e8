// gradwise playground: the page. The server trains (PROTOCOL.md); this module only sends the
// user's settings and commands over the WebSocket and draws what comes back.

import {
  drawColorbar, drawDatasetIcon, drawHeatmap, drawLandscape, drawLossChart, drawPoints, floats,
  CHART_TEXT, niceTicks, symmetricScale,
} from './draw.js';
import { NetworkView, FEATURE_LABEL } from './net.js';
import { decodeHash, encodeHash } from './url.js';

const $ = (id) => document.getElementById(id);

const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REG_RATES = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const DATASET_LABEL = {
  circle: 'circle', xor: 'xor', gauss: 'gauss', spiral: 'spiral', regression_plane: 'plane',
  regression_gauss: 'bumps', will_i_pass: 'will I pass?', upload: 'your CSV',
};
// the lecture's synthetic set keeps its units (gw.data.will_i_pass)
const AXES = { will_i_pass: ['x₁ lectures attended', 'x₂ hours on the project'] };
const ACTIVATION_LABEL = { relu: 'ReLU', tanh: 'Tanh', sigmoid: 'Sigmoid', linear: 'Linear' };
const OPTIMIZER_LABEL = {
  sgd: 'SGD', adam: 'Adam', adamw: 'AdamW', adagrad: 'Adagrad', adadelta: 'Adadelta', rmsprop: 'RMSprop',
};
// One line of help per optimizer and per hyperparameter (PyTorch's names and meanings).
const OPTIMIZER_HELP = {
  sgd: 'w ← w − η·g: plain gradient steps (with momentum: a running sum of past steps).',
  adam: 'Steps by running averages of the gradient and its square (Kingma & Ba 2015).',
  adamw: 'Adam with the weight decay applied to the weights directly (Loshchilov & Hutter 2019).',
  adagrad: 'Each weight’s step shrinks with the sum of its past squared gradients (Duchi et al. 2011).',
  adadelta: 'Adagrad without the ever-shrinking step: the learning rate is usually 1 (Zeiler 2012).',
  rmsprop: 'Steps divided by a running average of the squared gradient (Hinton 2012).',
};
const PARAM_HELP = {
  momentum: 'fraction of the previous step kept (0: none, 0.9 usual)',
  dampening: 'fraction of the new gradient left out of the momentum sum (usually 0)',
  weight_decay: 'pulls every weight toward 0 each step (an L2 penalty)',
  nesterov: 'look-ahead momentum (needs momentum > 0)',
  maximize: 'climbs the loss instead of descending it: training gets worse',
  betas: 'averaging of the gradient and of its square (0.9, 0.999 usual)',
  eps: 'added to the denominator so it is never 0',
  amsgrad: 'never lets the squared-gradient average shrink (Reddi et al. 2018)',
  lr_decay: 'the learning rate divided by 1 + steps·lr_decay',
  initial_accumulator_value: 'starting value of the squared-gradient sum',
  rho: 'averaging of the squared gradients and steps (0.9 usual)',
  alpha: 'averaging of the squared gradient (0.99 usual)',
  centered: 'divide by the gradient’s variance rather than its mean square',
};
// The learning rate each optimizer is usually run with, proposed when it is picked.
const USUAL_LR = { sgd: 0.03, adam: 0.03, adamw: 0.03, adagrad: 0.1, adadelta: 1, rmsprop: 0.01 };
// The loss a problem is trained with (the session's choice, PROTOCOL.md).
const LOSS_NAME = { classification: 'binary cross-entropy', regression: 'mean squared error' };

/**
 * Lessons: a prepared experiment (settings over the defaults) and one sentence of what to try.
 * Each is a link (`#lesson=NAME&...`), so a teacher can also hand it out.
 */
const LESSONS = [
  {
    id: 'lr-too-high', name: 'Learning rate too high',
    settings: { dataset: 'circle', features: ['x1', 'x2'], hidden: [4], dropout: [0], optimizer: 'sgd', optimizer_params: {}, learning_rate: 3, activation: 'tanh' },
    text: 'SGD with learning rate 3: press play and watch the test loss jump about instead of falling; then try 0.03.',
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

/** Everything the page knows; also read by the browser tests (window.playground). */
const app = {
  ws: null,
  session: null,
  defaults: null,
  settings: null, // the last settings the server confirmed (normalized)
  data: null,
  state: null,
  history: { epoch: [], train_loss: [], test_loss: [] },
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
let lastPointer = -1e9;
document.addEventListener('pointerdown', () => { lastPointer = performance.now(); }, true);
function releaseIfPointer(el) {
  if (el && performance.now() - lastPointer < 1500) el.blur();
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
  if (app.ws && app.ws.readyState === WebSocket.OPEN) {
    app.ws.send(JSON.stringify(msg));
    return true;
  }
  if (app.ws && app.ws.readyState === WebSocket.CLOSED) {
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
    // inputs and hidden neurons take over the big output; the output neuron is the output
    app.hover = info && info.layer <= app.settings.hidden.length ? info : null;
    scheduleDraw();
  },
  outputMap: () => outputMap(),
});
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
    const help = key === 'optimizer_params' ? PARAM_HELP[k] : null;
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

/** The learning rate an optimizer is usually run with (the session's if it says). */
function usualLearningRate(name) {
  const fromSession = app.defaults?.choices?.usual_learning_rate?.[name];
  if (typeof fromSession === 'number') return fromSession;
  return USUAL_LR[name] ?? null;
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
  $('optimizer-help').textContent = OPTIMIZER_HELP[s.optimizer] || '';
  $('loss-name').textContent = `Loss: ${LOSS_NAME[s.problem] || s.problem}`;
  drawColorbar($('colorbar').getContext('2d'), !!s.discretize);
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
function applyPageOptions() {
  const hide = new Set(String(app.page.hide || '').split(',').map((x) => x.trim()).filter(Boolean));
  for (const el of document.querySelectorAll('[data-hide]')) {
    const hidden = el.dataset.hide.split(' ').some((n) => hide.has(n));
    if (hidden) el.setAttribute('data-hidden-by-link', '');
    else el.removeAttribute('data-hidden-by-link');
  }
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
  net.build(names(app.defaults.choices.features), app.settings.features, app.settings.hidden,
    app.settings.dropout, domain, maxNeurons());
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
  // propose the optimizer's usual learning rate (Adadelta at 0.03 barely moves)
  const usual = usualLearningRate(name);
  let note = '';
  if (usual != null && usual !== app.settings.learning_rate) {
    msg.learning_rate = usual;
    note = `Learning rate set to ${usual}, ${OPTIMIZER_LABEL[name] || name}’s usual one (was ${app.settings.learning_rate}).`;
  }
  $('optimizer-note').textContent = note;
  change(msg);
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
    if (k === 'discretize') drawColorbar($('colorbar').getContext('2d'), e.target.checked);
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
    send({ type: 'landscape', dims, resolution: Number($('landscape-res').value) });
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
const labelColor = (y) => (app.data?.problem === 'regression'
  ? `${colorFor(y / Y_SCALE)}` : colorFor(y > 0.5 ? 1 : -1));
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
  $('es-status').textContent = esText;
  drawLossChart($('loss-chart').getContext('2d'), app.history, es);
  if (st) net.update(st, !!s.discretize);
  // the big output (or the hovered neuron)
  const ctx = $('output').getContext('2d');
  const hm = st?.heatmaps;
  let caption = '';
  // what the colours mean follows what is shown: the output, a hidden neuron or an input
  let legend = null;
  if (hm) {
    const h = app.hover;
    if (h && h.layer > 0 && hm.neurons?.[h.layer]?.[h.index] != null) {
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
      } else drawHeatmap(ctx, floats(hm.output), hm.size, outputMap(), !!s.discretize);
    } else drawHeatmap(ctx, floats(hm.output), hm.size, outputMap(), !!s.discretize);
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
  $('legend-note').textContent = legend.note;
  drawAxes();
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
  if (msg.epoch === 0 || (h.epoch.length && msg.epoch < h.epoch[h.epoch.length - 1])) {
    const keep = h.epoch.findIndex((e) => e > msg.epoch);
    if (keep >= 0) for (const k of ['epoch', 'train_loss', 'test_loss']) h[k].length = keep;
  }
  if (add && add.epoch && add.epoch.length) {
    const first = add.epoch[0];
    const cut = h.epoch.findIndex((e) => e >= first);
    if (cut >= 0) for (const k of ['epoch', 'train_loss', 'test_loss']) h[k].length = cut;
    for (const k of ['epoch', 'train_loss', 'test_loss']) h[k].push(...(add[k] || []));
  }
  if (msg.epoch === 0 && app.landscape) clearLandscape(); // a new network: the old slice is stale
  const hm = msg.heatmaps;
  if (hm) {
    hm.output = floats(hm.output);
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
      $('export-config').href = `/export/${msg.session}/config.toml`;
      $('export-model').href = `/export/${msg.session}/model.safetensors`;
      $('export-points').href = `/export/${msg.session}/points.csv`;
      const hash = location.hash; // read before the URL shows the session's settings
      applySettings(msg.settings);
      followHash(hash);
      break;
    }
    case 'settings':
      app.settings = msg.settings;
      app.inflight = Math.max(0, (app.inflight || 0) - 1);
      // an echo of an earlier change while a later one is still on its way would undo the
      // later one in the controls (a quick second click): show only the newest state
      if (app.inflight === 0) applySettings(msg.settings);
      break;
    case 'data':
      app.data = msg;
      if (Array.isArray(msg.domain)) app.data.domain = { x1: msg.domain, x2: msg.domain };
      Y_SCALE = yScale();
      rebuildNetwork();
      scheduleDraw();
      break;
    case 'state':
      onState(msg);
      break;
    case 'landscape':
      app.landscape = msg;
      for (const b of document.querySelectorAll('.landscape-panel .busy')) b.classList.remove('busy');
      drawLandscape($('landscape').getContext('2d'), msg);
      $('landscape-caption').textContent = msg.dims === 1
        ? 'training loss along one direction; orange dot: the current weights; black: the trajectory'
        : 'log training loss (blue low, orange high) with contours; white dot: the current weights; black: the trajectory';
      break;
    case 'error':
      app.inflight = Math.max(0, (app.inflight || 0) - 1);
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
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  app.ws = ws;
  ws.addEventListener('open', () => { app.connected = true; $('status').textContent = 'connected'; });
  ws.addEventListener('message', onMessage);
  ws.addEventListener('close', () => {
    app.connected = false;
    $('status').textContent = 'disconnected';
    showError('the connection to the gradwise server closed; use any control to start a new '
      + 'session (is `gradwise playground` still running?)');
  });
}

// An idle session is freed by the server; a tab in view is not idle, so it says so once a minute.
setInterval(() => {
  if (document.visibilityState === 'visible' && app.ws?.readyState === WebSocket.OPEN) {
    app.ws.send(JSON.stringify({ type: 'ping' }));
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
