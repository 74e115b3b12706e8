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

/**
 * Settings from a hash, typed like `template`; keys not in the template are kept (the server
 * names unknown keys in its error). Returns {} for an empty hash.
 */
export function decodeHash(hash, template) {
  const out = {};
  const text = hash.replace(/^#/, '');
  if (!text) return out;
  for (const part of text.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    const raw = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
    const path = key.split('.');
    let like = template;
    for (const p of path) like = like && typeof like === 'object' ? like[p] : undefined;
    let target = out;
    for (const p of path.slice(0, -1)) {
      if (typeof target[p] !== 'object' || target[p] === null) target[p] = {};
      target = target[p];
    }
    target[path[path.length - 1]] = parseValue(raw, like);
  }
  return out;
}

/** Deep merge of plain objects (b wins). */
export function merge(a, b) {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' && !Array.isArray(a[k])) {
      out[k] = merge(a[k], v);
    } else out[k] = v;
  }
  return out;
}
