// The network diagram: one small canvas heatmap per neuron (its own output over the input
// plane), links on one canvas behind them (thickness and colour by weight), hover tooltips.

import { colorOf, drawHeatmap, drawProbMap, floats, symmetricScale } from './draw.js';

const NODE = 38; // px, border included
const TOP = 78; // room for the layer controls (more on a phone: bigger touch targets)
const GAP = 48; // vertical distance between neurons
const LEFT = 66; // x of the input column (labels to its left)

/** Feature values over the plane, for drawing the inputs (x1 to the right, x2 up). */
const FEATURE_FN = {
  x1: (a) => a,
  x2: (a, b) => b,
  'x1^2': (a) => a * a,
  'x2^2': (a, b) => b * b,
  'x1*x2': (a, b) => a * b,
  'sin(x1)': (a) => Math.sin(a),
  'sin(x2)': (a, b) => Math.sin(b),
};

export const FEATURE_LABEL = {
  x1: 'X₁', x2: 'X₂', 'x1^2': 'X₁²', 'x2^2': 'X₂²', 'x1*x2': 'X₁X₂', 'sin(x1)': 'sin(X₁)', 'sin(x2)': 'sin(X₂)',
};

function featureMap(name, domain, size) {
  const f = FEATURE_FN[name];
  const out = new Float32Array(size * size);
  if (!f) return out;
  const [lo, hi] = domain.x1;
  const [lo2, hi2] = domain.x2;
  for (let r = 0; r < size; r++) {
    const b = hi2 - ((r + 0.5) / size) * (hi2 - lo2);
    for (let c = 0; c < size; c++) out[r * size + c] = f(lo + ((c + 0.5) / size) * (hi - lo), b);
  }
  return out;
}

function bezierPoint(p, t) {
  const [x1, y1, x2, y2] = p;
  const mx = (x1 + x2) / 2;
  const u = 1 - t;
  // control points (mx, y1) and (mx, y2)
  const x = u * u * u * x1 + 3 * u * u * t * mx + 3 * u * t * t * mx + t * t * t * x2;
  const y = u * u * u * y1 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t * t * t * y2;
  return [x, y];
}

export class NetworkView {
  constructor(container, callbacks) {
    this.root = container;
    this.cb = callbacks;
    this.links = container.querySelector('#links');
    this.lctx = this.links.getContext('2d');
    this.tooltip = container.querySelector('#tooltip');
    this.nodes = []; // per column: [{el, ctx, x, y, name?}]
    this.linkGeom = []; // [{l, i, j, pts}]
    this.state = null;
    this.key = '';
    this.domain = { x1: [-6, 6], x2: [-6, 6] };
    this.hoverNode = null;
    this.hoverLink = null;
    this.grads = null; // a `backprop` message: links show dJ/dw instead of w
    container.addEventListener('mousemove', (e) => this.onMove(e));
    container.addEventListener('mouseleave', () => this.clearHover());
    container.addEventListener('click', (e) => this.onClick(e));
  }

  /** Click a link to edit its weight, a bias square to edit the bias. */
  onClick(e) {
    const t = e.target;
    if (t.classList?.contains('bias')) {
      e.stopPropagation();
      if (this.cb.onEditBias) this.cb.onEditBias(Number(t.dataset.layer) - 1, Number(t.dataset.index), t);
      return;
    }
    if (t.closest?.('.node, .layer-ctl, .editor')) return;
    const r = this.root.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    const g = this.linkAt(x, y);
    if (!g) return;
    if (this.grads && this.cb.gradText) {
      // the gradient view: a click (a tap on a phone) shows the link's chain rule
      this.hoverLink = g;
      this.drawLinks();
      this.showTip(x, y, this.cb.gradText(g));
      this.tooltip.classList.add('wide');
      return;
    }
    if (this.cb.onEditWeight) this.cb.onEditWeight(g, x, y);
  }

  /** The link within 5 px of (x, y), or null. */
  linkAt(x, y) {
    let best = null, bestD = 5;
    for (const g of this.linkGeom) {
      const [x1, , x2] = g.pts;
      if (x < Math.min(x1, x2) - 5 || x > Math.max(x1, x2) + 5) continue;
      for (let k = 0; k <= 24; k++) {
        const [px, py] = bezierPoint(g.pts, k / 24);
        const d = Math.hypot(px - x, py - y);
        if (d < bestD) { bestD = d; best = g; }
      }
    }
    return best;
  }

  /** Show a `backprop` message's gradients on the links (null: back to the weights). */
  setGrads(msg) {
    this.grads = msg;
    this.root.classList.toggle('grad-view', !!msg);
    this.drawLinks();
  }

  grad(g) {
    const v = this.grads?.grads?.weights?.[g.l]?.[g.i]?.[g.j];
    return typeof v === 'number' ? v : null;
  }

  /** (Re)build the DOM when the structure changes. */
  build(allFeatures, active, hidden, dropout, domain, maxNeurons = 8, nOut = 1) {
    const key = JSON.stringify([allFeatures, active, hidden, dropout, domain, maxNeurons, nOut]);
    if (key === this.key) return;
    this.key = key;
    this.domain = domain;
    this.allFeatures = allFeatures;
    this.active = active;
    const focused = document.activeElement?.closest?.('.node');
    const refocus = focused && this.root.contains(focused)
      ? `.node[data-layer="${focused.dataset.layer}"][data-index="${focused.dataset.index}"]` : null;
    for (const el of [...this.root.querySelectorAll('.node, .node-label, .layer-ctl')]) el.remove();
    const cols = hidden.length + 2;
    // as wide as the column, and never so narrow that layers overlap (then the diagram scrolls
    // inside its own box, never the page)
    const avail = (this.root.parentElement || this.root).clientWidth;
    // a phone: narrower labels and layer controls, so that three hidden layers fit in 366 px
    const narrow = avail < 420;
    const left = narrow ? 52 : LEFT;
    const ctlW = narrow ? 64 : 76;
    const TOP = narrow ? 100 : 78;
    const W = Math.max(left + (cols - 1) * (narrow ? 66 : 80) + NODE + 8, avail);
    this.root.style.width = `${W}px`;
    const xOut = W - NODE - 8;
    const xs = [];
    for (let c = 0; c < cols; c++) xs.push(left + ((xOut - left) * c) / (cols - 1));
    const maxRows = Math.max(allFeatures.length, ...hidden, nOut);
    const H = TOP + maxRows * GAP + 8;
    this.root.style.height = `${H}px`;
    const dpr = window.devicePixelRatio || 1;
    this.links.width = W * dpr;
    this.links.height = H * dpr;
    this.links.style.width = `${W}px`;
    this.links.style.height = `${H}px`;
    this.lctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.nodes = [];
    const mk = (x, y, cls, title) => {
      const el = document.createElement('div');
      el.className = `node ${cls}`;
      el.style.left = `${x}px`;
      el.style.top = `${y}px`;
      el.tabIndex = 0; // every neuron is reachable with Tab
      // a mouse or touch press does not focus it, so that space goes on meaning play/pause
      el.addEventListener('mousedown', (e) => {
        e.preventDefault();
        if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
      });
      if (title) el.title = title;
      const cv = document.createElement('canvas');
      cv.width = cv.height = 36;
      el.appendChild(cv);
      this.root.appendChild(el);
      return { el, ctx: cv.getContext('2d'), x, y };
    };
    const withBias = (n, l, j) => {
      // the neuron's bias as a small square (colour: its sign and size), as in TF Playground
      const b = document.createElement('div');
      b.className = 'bias';
      b.dataset.layer = String(l);
      b.dataset.index = String(j);
      n.el.appendChild(b);
      n.bias = b;
      n.el.addEventListener('focus', () => this.focusNode(n, l, j));
      n.el.addEventListener('blur', () => { if (this.hoverNode === n) this.clearHover(); });
      n.el.addEventListener('keydown', (e) => {
        if ((e.key === 'Enter' || e.key === ' ') && this.cb.onEditBias) {
          e.preventDefault();
          this.cb.onEditBias(l - 1, j, n.el);
        }
      });
    };
    // inputs: every feature, the active ones switched on
    const inputs = allFeatures.map((f, i) => {
      const on = active.includes(f);
      const n = mk(xs[0], TOP + i * GAP, `input ${on ? '' : 'off'}`);
      n.name = f;
      n.el.dataset.feature = f;
      n.el.dataset.layer = '0';
      n.el.dataset.index = String(i);
      n.el.setAttribute('role', 'button');
      n.el.setAttribute('aria-pressed', String(on));
      n.el.setAttribute('aria-label', `input ${FEATURE_LABEL[f] || f}`);
      n.el.addEventListener('click', () => this.cb.onToggleFeature(f));
      n.el.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.cb.onToggleFeature(f); }
      });
      n.el.addEventListener('focus', () => this.focusNode(n, 0, i));
      n.el.addEventListener('blur', () => { if (this.hoverNode === n) this.clearHover(); });
      const lab = document.createElement('div');
      lab.className = 'node-label';
      lab.textContent = FEATURE_LABEL[f] || f;
      lab.style.left = `${xs[0] - left}px`;
      lab.style.width = `${left - 6}px`;
      lab.style.top = `${TOP + i * GAP + 11}px`;
      this.root.appendChild(lab);
      drawHeatmap(n.ctx, featureMap(f, domain, 36), 36, symmetricScale(featureMap(f, domain, 36)));
      return n;
    });
    this.nodes.push(inputs);
    hidden.forEach((h, l) => {
      const col = [];
      const top = TOP + ((maxRows - h) * GAP) / 2;
      for (let j = 0; j < h; j++) {
        const n = mk(xs[l + 1], top + j * GAP, 'hidden');
        n.el.dataset.layer = String(l + 1);
        n.el.dataset.index = String(j);
        n.el.setAttribute('aria-label', `layer ${l + 1}, neuron ${j + 1}`);
        withBias(n, l + 1, j);
        col.push(n);
      }
      this.nodes.push(col);
      const ctl = document.createElement('div');
      ctl.className = 'layer-ctl';
      ctl.dataset.hide = 'layers';
      ctl.style.left = `${xs[l + 1] + NODE / 2 - ctlW / 2}px`;
      ctl.style.width = `${ctlW}px`;
      ctl.style.top = '0px';
      ctl.innerHTML = `<div class="pm"><button class="round tiny add-neuron" title="Add a neuron" aria-label="Add a neuron to layer ${l + 1}">+</button>`
        + `<button class="round tiny remove-neuron" title="Remove a neuron" aria-label="Remove a neuron from layer ${l + 1}">&minus;</button></div>`
        + `<span>${h} neuron${h === 1 ? '' : 's'}</span>`
        + `<label title="Dropout rate after this layer">drop <input class="dropout" type="number" min="0" max="0.9" step="0.05" value="${dropout[l] ?? 0}"></label>`;
      ctl.querySelector('.add-neuron').disabled = h >= maxNeurons;
      ctl.querySelector('.remove-neuron').disabled = h <= 1;
      ctl.querySelector('.add-neuron').addEventListener('click', (e) => { e.currentTarget.blur(); this.cb.onNeurons(l, +1); });
      ctl.querySelector('.remove-neuron').addEventListener('click', (e) => { e.currentTarget.blur(); this.cb.onNeurons(l, -1); });
      ctl.querySelector('.dropout').addEventListener('change', (e) => this.cb.onDropout(l, Number(e.target.value)));
      this.root.appendChild(ctl);
    });
    // the output: one neuron (two classes, regression) or one per class (softmax)
    const outs = [];
    for (let c = 0; c < nOut; c++) {
      const out = mk(xOut, TOP + ((maxRows - nOut) * GAP) / 2 + c * GAP, 'out', '');
      out.el.dataset.layer = String(hidden.length + 1);
      out.el.dataset.index = String(c);
      out.el.setAttribute('aria-label', nOut > 1 ? `output neuron of class ${c}` : 'output neuron');
      withBias(out, hidden.length + 1, c);
      outs.push(out);
    }
    this.nOut = nOut;
    this.nodes.push(outs);
    this.geometry();
    if (this.state) this.update(this.state, this.discretize);
    if (refocus) this.root.querySelector(refocus)?.focus();
  }

  /** Keyboard focus on a neuron does what hovering does: its map and its tooltip. */
  focusNode(n, l, j) {
    if (this.hoverNode !== n) {
      this.clearHover();
      this.hoverNode = n;
      n.el.classList.add('hover');
      this.cb.onHoverNeuron({ layer: l, index: j, name: n.name });
    }
    this.showTip(n.x + NODE, n.y + NODE, this.nodeText(l, j, n));
  }

  nodeText(l, j, n) {
    if (l === 0) return `input ${FEATURE_LABEL[n.name] || n.name}${this.active.includes(n.name) ? '' : ' (off: click to use)'}`;
    const b = this.state?.network?.biases?.[l - 1]?.[j];
    const what = l === this.nodes.length - 1 ? 'output' : `layer ${l}, neuron ${j + 1}`;
    return `${what}: bias ${typeof b === 'number' ? b.toPrecision(3) : '–'} (click its square to edit)`;
  }

  geometry() {
    this.linkGeom = [];
    const activeIdx = this.active.map((f) => this.allFeatures.indexOf(f));
    for (let l = 0; l < this.nodes.length - 1; l++) {
      // weights[l][i][j]: i over the active inputs (layer 0) or the neurons of layer l
      const from = l === 0 ? activeIdx.map((k) => this.nodes[0][k]) : this.nodes[l];
      from.forEach((a, i) => {
        if (!a) return;
        this.nodes[l + 1].forEach((b, j) => {
          this.linkGeom.push({ l, i, j, pts: [a.x + NODE, a.y + NODE / 2, b.x, b.y + NODE / 2] });
        });
      });
    }
  }

  /** Draw the heatmaps and the links from a `state` message. */
  update(state, discretize) {
    this.state = state;
    this.discretize = discretize;
    const net = state.network;
    const hm = state.heatmaps;
    if (hm && hm.neurons) {
      const size = hm.size;
      hm.neurons.forEach((layer, l) => {
        if (l === 0) {
          // inputs: server's maps of the active features (in network.inputs order)
          layer.forEach((vals, i) => {
            const name = net && net.inputs ? net.inputs[i] : this.active[i];
            const node = this.nodes[0].find((n) => n.name === name);
            if (node) { const v = floats(vals); drawHeatmap(node.ctx, v, size, symmetricScale(v)); }
          });
          return;
        }
        const col = this.nodes[l];
        if (!col || l === this.nodes.length - 1) return;
        layer.forEach((vals, j) => {
          if (col[j]) { const v = floats(vals); drawHeatmap(col[j].ctx, v, size, symmetricScale(v)); }
        });
      });
    }
    const outCol = this.nodes[this.nodes.length - 1];
    if (hm && Array.isArray(hm.output_probs) && outCol.length === hm.output_probs.length) {
      // K classes: each output neuron shows P(its class) in its class colour
      hm.output_probs.forEach((p, c) => drawProbMap(outCol[c].ctx, floats(p), hm.size, c, outCol.length));
    } else if (hm && hm.output && this.cb.outputMap) {
      drawHeatmap(outCol[0].ctx, floats(hm.output), hm.size, this.cb.outputMap(), discretize);
    }
    const biases = state.network?.biases;
    for (let l = 1; l < this.nodes.length; l++) {
      this.nodes[l].forEach((n, j) => {
        const b = biases?.[l - 1]?.[j];
        if (n.bias) n.bias.style.background = typeof b === 'number' ? colorOf(Math.max(-1, Math.min(1, b))) : '#e8eaeb';
      });
    }
    this.drawLinks();
  }

  weight(g) {
    const w = this.state?.network?.weights?.[g.l]?.[g.i]?.[g.j];
    return typeof w === 'number' ? w : null;
  }

  drawLinks() {
    const ctx = this.lctx;
    ctx.clearRect(0, 0, this.links.width, this.links.height);
    // gradient view: colour = sign of dJ/dw, thickness = |dJ/dw| relative to the largest
    let gmax = 0;
    if (this.grads) for (const g of this.linkGeom) gmax = Math.max(gmax, Math.abs(this.grad(g) ?? 0));
    for (const g of this.linkGeom) {
      const [x1, y1, x2, y2] = g.pts;
      const mx = (x1 + x2) / 2;
      if (this.grads) {
        const d = this.grad(g);
        const f = d == null || gmax === 0 ? 0 : d / gmax;
        ctx.strokeStyle = d == null ? '#ccc' : colorOf(Math.max(-1, Math.min(1, f * 1.5)));
        ctx.lineWidth = d == null ? 1 : Math.max(0.5, Math.abs(f) * 8);
      } else {
        const w = this.weight(g);
        ctx.strokeStyle = w == null ? '#ccc' : colorOf(Math.max(-1, Math.min(1, w)));
        ctx.lineWidth = w == null ? 1 : Math.max(0.5, Math.min(7, Math.abs(w) * 2));
      }
      if (this.hoverLink === g) ctx.lineWidth += 2;
      ctx.beginPath();
      ctx.moveTo(x1, y1);
      ctx.bezierCurveTo(mx, y1, mx, y2, x2, y2);
      ctx.stroke();
    }
  }

  clearHover() {
    this.tooltip.hidden = true;
    if (this.hoverNode) this.hoverNode.el.classList.remove('hover');
    const had = this.hoverNode || this.hoverLink;
    this.hoverNode = null;
    this.hoverLink = null;
    if (had) { this.drawLinks(); this.cb.onHoverNeuron(null); }
  }

  showTip(x, y, text) {
    this.tooltip.textContent = text;
    this.tooltip.classList.remove('wide');
    this.tooltip.hidden = false;
    // inside the diagram's box: to the left of the pointer where the right side is short
    const w = this.tooltip.offsetWidth;
    const maxLeft = this.root.clientWidth - w - 4;
    this.tooltip.style.left = `${Math.max(0, x + 12 > maxLeft ? x - w - 12 : x + 12)}px`;
    this.tooltip.style.top = `${y + 12}px`;
  }

  onMove(e) {
    const r = this.root.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    // neurons first
    for (let l = 0; l < this.nodes.length; l++) {
      for (let j = 0; j < this.nodes[l].length; j++) {
        const n = this.nodes[l][j];
        if (x >= n.x && x <= n.x + NODE && y >= n.y && y <= n.y + NODE) {
          if (this.hoverNode !== n) {
            this.clearHover();
            this.hoverNode = n;
            n.el.classList.add('hover');
            this.cb.onHoverNeuron({ layer: l, index: j, name: n.name });
          }
          this.showTip(x, y, this.nodeText(l, j, n));
          return;
        }
      }
    }
    // then links
    const best = this.linkAt(x, y);
    if (best) {
      if (this.hoverNode) this.clearHover();
      if (this.hoverLink !== best) { this.hoverLink = best; this.drawLinks(); }
      const w = this.weight(best);
      const text = this.grads && this.cb.gradText ? this.cb.gradText(best)
        : `weight ${w == null ? '–' : w.toPrecision(3)} (click to edit)`;
      this.showTip(x, y, text);
      this.tooltip.classList.toggle('wide', !!this.grads);
      return;
    }
    this.clearHover();
  }
}
