// Canvas drawing: heatmaps, data points, the loss chart and the loss landscape.
// Colours: -1 -> orange, 0 -> light grey, +1 -> blue (colour-blind safe, as TF Playground).

export const ORANGE = [245, 147, 34];
export const BLUE = [8, 119, 189];
const MID = [232, 234, 235];
/** Text drawn on the canvases: 7.0:1 on white (WCAG AA needs 4.5:1). */
export const CHART_TEXT = '#595959';

/** 256-entry RGB lookup for values in [-1, 1]. */
const LUT = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * 2 - 1;
    const [a, b, f] = t < 0 ? [MID, ORANGE, -t] : [MID, BLUE, t];
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = a[c] + (b[c] - a[c]) * f;
  }
  return lut;
})();

/** The same lookup as one little-endian RGBA word per entry (one store per pixel). */
const LUT32 = (() => {
  const out = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    out[i] = (255 << 24) | (LUT[i * 3 + 2] << 16) | (LUT[i * 3 + 1] << 8) | LUT[i * 3];
  }
  return out;
})();

/**
 * Class colours for K classes, colour-blind safe: two classes keep the playground's orange and
 * blue; more take the Okabe-Ito palette (Okabe & Ito 2008), distinct under protanopia,
 * deuteranopia and tritanopia.
 */
const OKABE_ITO = [[230, 159, 0], [0, 114, 178], [0, 158, 115], [204, 121, 167], [86, 180, 233],
  [213, 94, 0], [240, 228, 66], [0, 0, 0]];
export function classColor(c, K) {
  if (K <= 2) return c === 0 ? ORANGE : BLUE;
  return OKABE_ITO[c % OKABE_ITO.length];
}
export const classColorCss = (c, K) => `rgb(${classColor(c, K).join(',')})`;

const classLuts = new Map();
/** 256 RGBA words from the light middle (index 0) to class c's colour (255). */
function classLut(c, K) {
  const key = `${c}/${K}`;
  if (!classLuts.has(key)) {
    const col = classColor(c, K);
    const out = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      const f = i / 255;
      const v = [0, 1, 2].map((k) => Math.round(MID[k] + (col[k] - MID[k]) * f));
      out[i] = (255 << 24) | (v[2] << 16) | (v[1] << 8) | v[0];
    }
    classLuts.set(key, out);
  }
  return classLuts.get(key);
}

function scratchFor(size) {
  let sc = scratch.get(size);
  if (!sc) {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = size;
    const sctx = canvas.getContext('2d');
    const img = sctx.createImageData(size, size);
    sc = { canvas, ctx: sctx, img, px: new Uint32Array(img.data.buffer) };
    scratch.set(size, sc);
  }
  return sc;
}

function blit(ctx, sc, smooth) {
  sc.ctx.putImageData(sc.img, 0, 0);
  const c = ctx.canvas;
  ctx.imageSmoothingEnabled = smooth;
  ctx.drawImage(sc.canvas, 0, 0, c.width, c.height);
}

/**
 * The output of a K-class network: each cell in the colour of its predicted class, the shade
 * the predicted probability of that class (from 1/K, no preference, to 1). Discretized: full colour.
 */
export function drawClassMap(ctx, cls, prob, size, K, discretize = false) {
  const sc = scratchFor(size);
  const px = sc.px;
  const luts = Array.from({ length: K }, (_, c) => classLut(c, K));
  for (let k = 0; k < size * size; k++) {
    const c = Math.max(0, Math.min(K - 1, Math.round(cls[k]))) || 0;
    let f = discretize ? 1 : (prob[k] - 1 / K) / (1 - 1 / K);
    f = Number.isFinite(f) ? Math.max(0, Math.min(1, f)) : 0;
    px[k] = luts[c][Math.round(0.25 * 255 + f * 0.75 * 255)];
  }
  blit(ctx, sc, !discretize);
}

/** One class's probability map (an output neuron of a K-class network): light 0 .. colour 1. */
export function drawProbMap(ctx, prob, size, c, K) {
  const sc = scratchFor(size);
  const lut = classLut(c, K);
  for (let k = 0; k < size * size; k++) {
    const f = Number.isFinite(prob[k]) ? Math.max(0, Math.min(1, prob[k])) : 0;
    sc.px[k] = lut[Math.round(f * 255)];
  }
  blit(ctx, sc, true);
}

/**
 * Viridis (van der Walt & Smith, matplotlib's default): a sequential scale, perceptually even
 * and colour-blind safe, for loss values (never the classes' orange and blue). t in [0, 1].
 */
const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
  [31, 158, 137], [53, 183, 121], [110, 206, 88], [181, 222, 43], [253, 231, 37]];
export function viridis(t) {
  const x = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const v = [0, 1, 2].map((k) => Math.round(VIRIDIS[i][k] + (VIRIDIS[i + 1][k] - VIRIDIS[i][k]) * f));
  return `rgb(${v.join(',')})`;
}

export function colorOf(v) {
  const i = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
  return `rgb(${LUT[i * 3]},${LUT[i * 3 + 1]},${LUT[i * 3 + 2]})`;
}

/** A flat numeric array from a JSON list or a base64 float32 string. */
export function floats(x) {
  if (x == null) return null;
  if (typeof x === 'string') {
    if (Uint8Array.fromBase64) return new Float32Array(Uint8Array.fromBase64(x).buffer);
    const bin = atob(x);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }
  return x;
}

const scratch = new Map(); // size -> {canvas, ctx, img, px}: reused for every heatmap

/**
 * Draw a size x size grid (row-major, row 0 at the top) onto ctx's whole canvas.
 * map(v) turns a value into [-1, 1]; discretize snaps the colour to -1 / +1.
 */
export function drawHeatmap(ctx, values, size, map = (v) => v, discretize = false) {
  const sc = scratchFor(size);
  const px = sc.px;
  const n = size * size;
  for (let k = 0; k < n; k++) {
    let t = map(values[k]);
    if (discretize) t = t >= 0 ? 1 : -1;
    let i = (t + 1) * 127.5 + 0.5;
    i = i >= 0 ? (i <= 255 ? i | 0 : 255) : (i < 0 ? 0 : 127); // NaN -> the middle
    px[k] = LUT32[i];
  }
  blit(ctx, sc, !discretize);
}

/** Symmetric scale of a neuron's map: values shown as v / max(1, max|v|). */
export function symmetricScale(values) {
  let m = 1;
  for (let k = 0; k < values.length; k++) {
    const a = Math.abs(values[k]);
    if (a > m) m = a;
  }
  return (v) => v / m;
}

/** Training (white ring) and test (black ring) points over the heatmap. */
export function drawPoints(ctx, points, domain, colorFor, test = false) {
  const [lo, hi] = domain.x1;
  const [lo2, hi2] = domain.x2;
  const W = ctx.canvas.width, H = ctx.canvas.height;
  const r = Math.max(2.2, W / 110);
  ctx.lineWidth = test ? 1.4 : 1;
  ctx.strokeStyle = test ? '#000' : '#fff';
  for (const p of points) {
    const x = ((p[0] - lo) / (hi - lo)) * W;
    const y = ((hi2 - p[1]) / (hi2 - lo2)) * H;
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = colorFor(p[2]);
    ctx.fill();
    ctx.stroke();
  }
}

/** Round tick values (steps of 1, 2 or 5 times a power of ten) covering [lo, hi]. */
export function niceTicks(lo, hi, n) {
  const span = hi - lo || 1;
  const step0 = span / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(+v.toPrecision(6));
  return out;
}

/**
 * The live loss chart: test loss black, training loss grey; early stopping as in `gradwise
 * train`'s figure: best epoch dashed (purple), patience window shaded, stop epoch orange.
 */
export function drawLossChart(ctx, hist, es, marks = []) {
  const c = ctx.canvas;
  const W = c.width, H = c.height;
  ctx.clearRect(0, 0, W, H);
  const n = hist.epoch.length;
  const padL = 30, padB = 14, padT = 4, padR = 4;
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = CHART_TEXT;
  ctx.strokeStyle = '#ddd';
  ctx.lineWidth = 1;
  ctx.strokeRect(padL + 0.5, padT + 0.5, W - padL - padR - 1, H - padT - padB - 1);
  if (n === 0) return;
  let ymax = 0;
  for (const arr of [hist.train_loss, hist.test_loss]) {
    for (const v of arr) if (Number.isFinite(v) && v > ymax) ymax = v;
  }
  ymax = ymax || 1;
  const e0 = 0; // epochs count from 1: the axis starts at the initialization
  const e1 = Math.max(hist.epoch[n - 1], e0 + 1);
  const X = (e) => padL + ((e - e0) / (e1 - e0)) * (W - padL - padR);
  const Y = (v) => padT + (1 - v / ymax) * (H - padT - padB);
  for (const t of niceTicks(0, ymax, 3)) {
    ctx.fillText(String(t), 2, Y(t) + 3);
  }
  ctx.fillText(String(e1), W - padR - ctx.measureText(String(e1)).width, H - 2);
  ctx.fillText(String(e0), padL, H - 2);
  if (es && es.best_epoch != null) {
    const best = es.best_epoch;
    const end = es.stopped_epoch != null ? es.stopped_epoch : Math.min(best + (es.patience || 0), e1);
    ctx.fillStyle = 'rgba(245, 147, 34, 0.12)';
    ctx.fillRect(X(best), padT, Math.max(0, X(end) - X(best)), H - padT - padB);
    ctx.strokeStyle = '#5e3c99';
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(X(best) + 0.5, padT);
    ctx.lineTo(X(best) + 0.5, H - padB);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  if (es && es.stopped_epoch != null) {
    ctx.strokeStyle = '#f59322';
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(X(es.stopped_epoch), padT);
    ctx.lineTo(X(es.stopped_epoch), H - padB);
    ctx.stroke();
  }
  const line = (arr, color, width) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    let started = false;
    const stride = Math.max(1, Math.floor(n / (2 * W))); // at most ~2 points per pixel
    for (let i = 0; i < n; i += (i + stride < n ? stride : Math.max(1, n - 1 - i))) {
      const v = arr[i];
      if (!Number.isFinite(v)) { started = false; continue; }
      const x = X(hist.epoch[i]), y = Y(v);
      if (started) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      started = true;
    }
    ctx.stroke();
    if (n === 1 && Number.isFinite(arr[0])) {
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.arc(X(hist.epoch[0]), Y(arr[0]), 2.5, 0, 2 * Math.PI);
      ctx.fill();
    }
  };
  // mid-run changes (a live setting or an edited weight): a dotted line at the epoch
  if (marks.length) {
    ctx.strokeStyle = '#5c5c5c';
    ctx.lineWidth = 1;
    ctx.setLineDash([1, 2]);
    for (const m of marks) {
      if (m < e0 || m > e1) continue;
      ctx.beginPath();
      ctx.moveTo(X(m) + 0.5, padT);
      ctx.lineTo(X(m) + 0.5, H - padB);
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }
  line(hist.train_loss, '#999', 1.5);
  line(hist.test_loss, '#000', 1.5);
  if (es && es.best_epoch != null && es.restored) {
    const i = hist.epoch.indexOf(es.best_epoch);
    if (i >= 0 && Number.isFinite(hist.test_loss[i])) {
      ctx.fillStyle = '#5e3c99';
      ctx.beginPath();
      ctx.arc(X(es.best_epoch), Y(hist.test_loss[i]), 4, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
}

/** Contour segments of a grid (marching squares) at level; grid[j][i], j rows (beta), i cols. */
function contourSegments(grid, level) {
  const segs = [];
  const ny = grid.length, nx = grid[0].length;
  const interp = (a, b) => (level - a) / (b - a);
  for (let j = 0; j < ny - 1; j++) {
    for (let i = 0; i < nx - 1; i++) {
      const v0 = grid[j][i], v1 = grid[j][i + 1], v2 = grid[j + 1][i + 1], v3 = grid[j + 1][i];
      const pts = [];
      if ((v0 < level) !== (v1 < level)) pts.push([i + interp(v0, v1), j]);
      if ((v1 < level) !== (v2 < level)) pts.push([i + 1, j + interp(v1, v2)]);
      if ((v3 < level) !== (v2 < level)) pts.push([i + interp(v3, v2), j + 1]);
      if ((v0 < level) !== (v3 < level)) pts.push([i, j + interp(v0, v3)]);
      if (pts.length === 2) segs.push(pts);
      else if (pts.length === 4) { segs.push([pts[0], pts[1]]); segs.push([pts[2], pts[3]]); }
    }
  }
  return segs;
}

/**
 * The loss landscape: 1D curve or 2D map with contours; the trajectory on top. The 2D map has
 * its own sequential colour scale (viridis on log10 of the loss: dark low, yellow high) and a
 * colour bar in loss units, never the classes' orange and blue. Returns the scale used.
 */
export function drawLandscape(ctx, msg) {
  const c = ctx.canvas;
  const W = c.width, H = c.height;
  ctx.clearRect(0, 0, W, H);
  ctx.font = '10px system-ui, sans-serif';
  const alphas = msg.alphas;
  const pad = 34;
  const barW = msg.dims === 2 ? 56 : 0; // the colour bar and its labels
  const right = W - 6 - barW;
  const ax0 = alphas[0], ax1 = alphas[alphas.length - 1];
  const X = (a) => pad + ((a - ax0) / (ax1 - ax0)) * (right - pad);
  const traj = msg.trajectory || [];
  const fmt = (v) => String(+Number(v).toPrecision(2));
  const dirName = msg.directions === 'pca' ? 'PC' : 'direction ';
  const explained = Array.isArray(msg.explained) ? msg.explained : null;
  const axisLabel = (k) => `${dirName}${k}${explained && explained[k - 1] != null ? ` (${Math.round(100 * explained[k - 1])} % of the path)` : ''}`;
  if (msg.dims === 1) {
    const loss = Array.isArray(msg.loss[0]) ? msg.loss.flat() : msg.loss;
    const tl = msg.trajectory_loss || traj.map((p) => p[1]);
    let lo = Infinity, hi = -Infinity;
    const range = Array.isArray(msg.loss_range) ? msg.loss_range : null;
    if (range) [lo, hi] = range;
    else for (const v of [...loss, ...tl]) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!(hi > lo)) hi = lo + 1;
    const Y = (v) => 6 + (1 - (v - lo) / (hi - lo)) * (H - pad - 6);
    ctx.strokeStyle = '#ddd';
    ctx.strokeRect(pad, 6, right - pad, H - pad - 6);
    ctx.fillStyle = CHART_TEXT;
    ctx.fillText(hi.toPrecision(3), 2, 14);
    ctx.fillText(lo.toPrecision(3), 2, H - pad);
    ctx.fillText(fmt(ax0), pad, H - pad + 12);
    ctx.fillText(fmt(ax1), right - 24, H - pad + 12);
    ctx.fillText(`α: ${axisLabel(1)}`, pad + 30, H - 4);
    ctx.strokeStyle = BLUE_CSS;
    ctx.lineWidth = 2;
    ctx.beginPath();
    loss.forEach((v, i) => (i ? ctx.lineTo(X(alphas[i]), Y(v)) : ctx.moveTo(X(alphas[i]), Y(v))));
    ctx.stroke();
    if (traj.length) {
      ctx.strokeStyle = '#000';
      ctx.lineWidth = 1;
      ctx.beginPath();
      traj.forEach(([a], i) => {
        const y = Y(Math.min(tl[i], hi));
        if (i) ctx.lineTo(X(a), y); else ctx.moveTo(X(a), y);
      });
      ctx.stroke();
      ctx.fillStyle = '#000';
      traj.forEach(([a], i) => ctx.fillRect(X(a) - 1.5, Y(Math.min(tl[i], hi)) - 1.5, 3, 3));
    }
    // the current weights sit at alpha = 0
    const i0 = alphas.reduce((b, a, i) => (Math.abs(a) < Math.abs(alphas[b]) ? i : b), 0);
    ctx.fillStyle = ORANGE_CSS;
    ctx.beginPath();
    ctx.arc(X(0), Y(loss[i0]), 5, 0, 2 * Math.PI);
    ctx.fill();
    return { lo, hi };
  }
  const betas = msg.betas;
  const grid = msg.loss; // rows: betas, columns: alphas
  const by0 = betas[0], by1 = betas[betas.length - 1];
  const top = 6, bottom = H - pad;
  const Y = (b) => top + (1 - (b - by0) / (by1 - by0)) * (bottom - top);
  // log-loss so that the valley shows
  const lg = (v) => Math.log10(Math.max(v, 1e-8));
  const logGrid = grid.map((row) => row.map(lg));
  let lo = Infinity, hi = -Infinity;
  if (Array.isArray(msg.loss_range)) [lo, hi] = msg.loss_range.map(lg);
  else for (const row of logGrid) for (const v of row) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!(hi > lo)) hi = lo + 1;
  const T = (v) => (v - lo) / (hi - lo);
  const nx = alphas.length, ny = betas.length;
  const cw = (right - pad) / (nx - 1), ch = (bottom - top) / (ny - 1);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      ctx.fillStyle = viridis(T(logGrid[j][i]));
      ctx.fillRect(X(alphas[i]) - cw / 2, Y(betas[j]) - ch / 2, cw + 1, ch + 1);
    }
  }
  ctx.clearRect(0, 0, pad, H);
  ctx.clearRect(0, bottom, W, H - bottom);
  ctx.clearRect(right, 0, W - right, H);
  ctx.clearRect(0, 0, W, top);
  ctx.strokeStyle = 'rgba(255,255,255,0.5)';
  ctx.lineWidth = 1;
  const gx = (i) => X(ax0 + (i / (nx - 1)) * (ax1 - ax0));
  const gy = (j) => Y(by0 + (j / (ny - 1)) * (by1 - by0));
  for (let k = 1; k < 10; k++) {
    const level = lo + (k / 10) * (hi - lo);
    for (const [[i0, j0], [i1, j1]] of contourSegments(logGrid, level)) {
      ctx.beginPath();
      ctx.moveTo(gx(i0), gy(j0));
      ctx.lineTo(gx(i1), gy(j1));
      ctx.stroke();
    }
  }
  if (traj.length) {
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    traj.forEach(([a, b], i) => (i ? ctx.lineTo(X(a), Y(b)) : ctx.moveTo(X(a), Y(b))));
    ctx.stroke();
    ctx.fillStyle = '#fff';
    for (const [a, b] of traj) ctx.fillRect(X(a) - 1.5, Y(b) - 1.5, 3, 3);
  }
  ctx.fillStyle = ORANGE_CSS;
  ctx.strokeStyle = '#000';
  ctx.beginPath();
  ctx.arc(X(0), Y(0), 5, 0, 2 * Math.PI);
  ctx.fill();
  ctx.stroke();
  ctx.fillStyle = CHART_TEXT;
  ctx.fillText(fmt(ax0), pad, H - pad + 12);
  ctx.fillText(fmt(ax1), right - 20, H - pad + 12);
  ctx.fillText(`α: ${axisLabel(1)}`, pad + 24, H - 4);
  ctx.save();
  ctx.translate(10, (top + bottom) / 2 + 40);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(`β: ${axisLabel(2)}`, 0, 0);
  ctx.restore();
  ctx.fillText(fmt(by1), 14, top + 8);
  ctx.fillText(fmt(by0), 14, bottom);
  // the colour bar: loss (log scale) from low (bottom) to high (top), ticks in loss units
  const bx = right + 8, bw = 10;
  for (let y = top; y <= bottom; y++) {
    ctx.fillStyle = viridis(1 - (y - top) / (bottom - top));
    ctx.fillRect(bx, y, bw, 1);
  }
  ctx.strokeStyle = '#888';
  ctx.strokeRect(bx + 0.5, top + 0.5, bw, bottom - top);
  ctx.fillStyle = CHART_TEXT;
  const by = (v) => bottom - T(v) * (bottom - top);
  const ticks = [lo, (lo + hi) / 2, hi];
  for (const t of ticks) ctx.fillText(String(+(10 ** t).toPrecision(2)), bx + bw + 3, by(t) + 3);
  ctx.save();
  ctx.translate(W - 3, (top + bottom) / 2 + 28);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText('training loss', 0, 0);
  ctx.restore();
  return { lo: 10 ** lo, hi: 10 ** hi };
}

const ORANGE_CSS = `rgb(${ORANGE.join(',')})`;
const BLUE_CSS = `rgb(${BLUE.join(',')})`;

/** The colour bar under the output. */
export function drawColorbar(ctx, discretize) {
  const W = ctx.canvas.width, H = ctx.canvas.height;
  for (let x = 0; x < W; x++) {
    let t = (x / (W - 1)) * 2 - 1;
    if (discretize) t = t >= 0 ? 1 : -1;
    ctx.fillStyle = colorOf(t);
    ctx.fillRect(x, 0, 1, H);
  }
}

/** Small procedural icons for the data set picker (pictures, not the data). */
export function drawDatasetIcon(ctx, name) {
  const W = ctx.canvas.width;
  const c = (v) => colorOf(v);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, W, W);
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const dot = (x, y, v) => {
    ctx.fillStyle = c(v);
    ctx.beginPath();
    ctx.arc(x * W, y * W, W / 22, 0, 2 * Math.PI);
    ctx.fill();
  };
  if (name === 'circle') {
    for (let i = 0; i < 70; i++) {
      const a = rnd() * 2 * Math.PI, inner = i % 2 === 0;
      const r = inner ? rnd() * 0.2 : 0.3 + rnd() * 0.15;
      dot(0.5 + r * Math.cos(a), 0.5 + r * Math.sin(a), inner ? 1 : -1);
    }
  } else if (name === 'xor') {
    for (let i = 0; i < 80; i++) {
      const x = rnd(), y = rnd();
      dot(x, y, (x - 0.5) * (y - 0.5) > 0 ? 1 : -1);
    }
  } else if (name === 'gauss') {
    for (let i = 0; i < 70; i++) {
      const s = i % 2 ? 1 : -1, g = () => (rnd() + rnd() + rnd() - 1.5) * 0.18;
      dot(0.5 + s * 0.22 + g(), 0.5 - s * 0.22 + g(), s);
    }
  } else if (name === 'spiral') {
    for (let i = 0; i < 90; i++) {
      const s = i % 2 ? 1 : -1, t = (i / 90) * 1.8 * Math.PI, r = 0.04 + (t / (1.8 * Math.PI)) * 0.4;
      dot(0.5 + s * r * Math.cos(t), 0.5 + s * r * Math.sin(t), s);
    }
  } else if (name === 'regression_plane' || name === 'regression_gauss') {
    const img = ctx.createImageData(W, W);
    for (let y = 0; y < W; y++) {
      for (let x = 0; x < W; x++) {
        const u = x / W - 0.5, v = y / W - 0.5;
        const t = name === 'regression_plane' ? (u - v)
          : Math.exp(-((u - 0.22) ** 2 + (v + 0.2) ** 2) * 40) - Math.exp(-((u + 0.2) ** 2 + (v - 0.22) ** 2) * 40);
        const i = Math.max(0, Math.min(255, Math.round((t + 1) * 127.5)));
        const k = (y * W + x) * 4;
        img.data[k] = LUT[i * 3]; img.data[k + 1] = LUT[i * 3 + 1]; img.data[k + 2] = LUT[i * 3 + 2];
        img.data[k + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  } else if (name === 'three_blobs' || name.startsWith('blobs')) {
    const centres = [[0.3, 0.3], [0.72, 0.4], [0.45, 0.75]];
    for (let i = 0; i < 75; i++) {
      const k = i % 3, g = () => (rnd() + rnd() + rnd() - 1.5) * 0.16;
      ctx.fillStyle = classColorCss(k, 3);
      ctx.beginPath();
      ctx.arc((centres[k][0] + g()) * W, (centres[k][1] + g()) * W, W / 22, 0, 2 * Math.PI);
      ctx.fill();
    }
  } else if (name === 'will_i_pass') {
    for (let i = 0; i < 60; i++) {
      const x = rnd(), y = rnd();
      dot(0.1 + 0.8 * x, 0.9 - 0.8 * y, x + y + (rnd() - 0.5) * 0.3 > 1 ? 1 : -1);
    }
  } else {
    ctx.fillStyle = CHART_TEXT;
    ctx.font = `bold ${Math.round(W / 3.5)}px system-ui, sans-serif`;
    ctx.textAlign = 'center';
    ctx.fillText('CSV', W / 2, W / 2 + W / 10);
    ctx.textAlign = 'start';
  }
}
