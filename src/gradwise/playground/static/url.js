// The URL hash holds every setting: `#dataset=spiral&noise=10&hidden=4,4&...`.
// Nested objects (an optimizer's hyperparameters) flatten to dotted keys (`optimizer_params.momentum`).
// Decoding is guided by a template (the defaults) so that numbers, booleans and lists come back typed.

function flatten(obj, prefix, out) {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v, key, out);
    else out.push([key, v]);
  }
  return out;
}

function encodeValue(v) {
  if (Array.isArray(v)) return v.map((x) => String(x)).join(',');
  if (v === null || v === undefined) return '';
  return String(v);
}

/** The hash string (without '#') of a settings object. */
export function encodeHash(settings) {
  return flatten(settings, '', [])
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(encodeValue(v))}`)
    .join('&');
}

function parseScalar(text, like) {
  if (typeof like === 'boolean') return text === 'true' || text === '1';
  if (typeof like === 'number') {
    const n = Number(text);
    return Number.isFinite(n) ? n : text; // the server reports a bad number
  }
  if (like === null || like === undefined) {
    if (text === 'true' || text === 'false') return text === 'true';
    if (text !== '' && Number.isFinite(Number(text))) return Number(text);
    return text === '' ? null : text;
  }
  return text;
}

function parseValue(text, like) {
  if (Array.isArray(like)) {
    if (text === '') return [];
    const elem = like.length ? like[0] : (text.split(',').every((t) => Number.isFinite(Number(t))) ? 0 : '');
    return text.split(',').map((t) => parseScalar(t, elem));
  }
  return parseScalar(text, like);
}

// Keys that would reach an object's prototype chain: never a path segment.
const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor']);
const NESTED_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const own = (o, k) => o !== null && typeof o === 'object' && Object.prototype.hasOwnProperty.call(o, k);

/**
 * Settings from a hash, typed like `template`, as null-prototype objects. Only keys of the
 * template (its own keys) and of `extra` (page-only options such as `hide`, `lesson`) are kept;
 * a dotted key is read only below a template key whose value is an object (an optimizer's or a
 * schedule's hyperparameters), one level deep, and only with a plain identifier
 * (`optimizer_params.momentum`). Everything else (`__proto__.x`, `constructor.prototype.x`,
 * unknown keys) is dropped, so a link can never write outside the returned object.
 * Returns an empty object for an empty hash.
 */
export function decodeHash(hash, template, extra = []) {
  const out = Object.create(null);
  const text = String(hash || '').replace(/^#/, '');
  if (!text) return out;
  for (const part of text.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    let key, raw;
    try {
      key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
      raw = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
    } catch { continue; } // a malformed %-escape
    const path = key.split('.');
    if (path.some((p) => FORBIDDEN.has(p))) continue;
    const [top, sub] = path;
    if (path.length === 1) {
      if (own(template, top)) out[top] = parseValue(raw, template[top]);
      else if (extra.includes(top)) out[top] = raw;
      continue;
    }
    const like = own(template, top) ? template[top] : undefined;
    if (path.length !== 2 || like === null || typeof like !== 'object' || Array.isArray(like)
      || !NESTED_KEY.test(sub)) continue;
    if (!own(out, top)) out[top] = Object.create(null);
    out[top][sub] = parseValue(raw, own(like, sub) ? like[sub] : undefined);
  }
  return out;
}

/** Deep merge of plain objects (b wins), own keys only, into a null-prototype object. */
export function merge(a, b) {
  const out = Object.create(null);
  for (const k of Object.keys(a)) if (!FORBIDDEN.has(k)) out[k] = a[k];
  for (const k of Object.keys(b)) {
    if (FORBIDDEN.has(k)) continue;
    const v = b[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && own(a, k) && a[k] && typeof a[k] === 'object'
      && !Array.isArray(a[k])) out[k] = merge(a[k], v);
    else out[k] = v;
  }
  return out;
}
