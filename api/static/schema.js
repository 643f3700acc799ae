// Gen1 settings as the page knows them (GEN1_SPEC §1). Types, ranges, defaults and aliases come
// from the server (contract.js, generated from render/'s field specs); this module adds only
// what the page says and where: labels, help texts, units, slider steps and the layout.
// The server validates everything again; this only drives controls.

import { ALIASES, OPTIONS as OPTION_FIELDS, SETTINGS } from './contract.js';

// the original's wave parameters, alike in every layer (by a field's last key)
export const WAVE = {
  baseFrequency: { label: 'Base frequency', step: 0.001 },
  amplitude: { label: 'Amplitude', step: 0.1 },
  octaves: { label: 'Octaves' },
  rotation: { label: 'Rotation', step: 1, unit: '°' },
};

/** What the page says about a field, by its dotted path (a number's `step` is the slider's). */
export const UI = {
  'flowField.color1': { label: 'First colour' },
  'flowField.color2': { label: 'Second colour' },
  'flowField.direction': { label: 'Gradient turns', names: { 1: 'Clockwise (1)', '-1': 'Counter-clockwise (−1)' } },
  'flowFields.lineDensity': { label: 'Line density', step: 0.01, help: 'More lines take longer to render' },
  'flowFields.lineLength': { label: 'Line length', step: 1, unit: ' px' },
  'flowFields.direction': { label: 'Line direction', names: { 1: 'As the wave flows (1)', '-1': 'Mirrored (−1)' } },
  'contour.levels': { label: 'Levels' },
  'contour.smoothness': { label: 'Smoothness', step: 0.05 },
  contourAffectsFlow: { label: 'Contours bend the flow lines' },
};

const uiOf = (path) => UI[path] || WAVE[path.split('.').at(-1)] || {};

/**
 * The sections in the page: title, the label of the `enabled` toggle, the order of the fields
 * shown, and `compat`: fields accepted and stored that the art does not use (kept for the
 * original's clients), tucked away. A field of the contract not named here is shown last.
 */
export const LAYOUT = {
  flowField: {
    title: 'Background gradient', toggle: 'Show the background',
    fields: ['color1', 'color2', 'direction'],
    compat: ['baseFrequency', 'amplitude', 'octaves', 'rotation'],
  },
  flowFields: {
    title: 'Flow lines', toggle: 'Show the flow lines',
    fields: ['lineDensity', 'lineLength', 'baseFrequency', 'amplitude', 'octaves', 'rotation', 'direction'],
  },
  contour: {
    title: 'Contour bands', toggle: 'Show the contour bands',
    fields: ['levels', 'smoothness', 'baseFrequency', 'amplitude', 'octaves'],
  },
};

/**
 * A field of the contract as the controls use it: `k` its key, `t` its control ('bool',
 * 'choice', 'color' or 'range'), `d` its default, `min`/`max`/`step` for a range, `choices`
 * and their `names` for a choice.
 */
function fieldOf({ path, schema }, label) {
  const k = path.split('.').at(-1);
  const ui = uiOf(path);
  const f = { k, d: schema.default, label: ui.label || label || k };
  if (schema.type === 'boolean') return { ...f, t: 'bool' };
  if (schema.enum) {
    return { ...f, t: 'choice', choices: schema.enum, names: schema.enum.map((v) => ui.names?.[v] ?? String(v)) };
  }
  if (schema.type === 'string') return { ...f, t: 'color' }; // the settings' one free string: #rrggbb
  // an integer steps by its multiple; a number by the slider's step the page chose
  const step = schema.type === 'integer' ? schema.multipleOf ?? 1 : ui.step;
  return { ...f, t: 'range', min: schema.minimum, max: schema.maximum, step, help: ui.help, unit: ui.unit };
}

function build() {
  const sections = new Map();
  const top = [];
  for (const leaf of SETTINGS) {
    const [key, name, ...deeper] = leaf.path.split('.');
    if (name === undefined) { top.push(fieldOf(leaf)); continue; }
    if (deeper.length) throw new Error(`settings nest deeper than the page shows: ${leaf.path}`);
    if (!sections.has(key)) {
      const layout = LAYOUT[key] || {};
      sections.set(key, { key, title: layout.title || key, toggle: layout.toggle, layout, enabled: null, fields: [], compat: [] });
    }
    const s = sections.get(key);
    if (name === 'enabled') s.enabled = fieldOf(leaf, s.toggle);
    else (s.layout.compat?.includes(name) ? s.compat : s.fields).push(fieldOf(leaf));
  }
  for (const s of sections.values()) {
    const order = [...(s.layout.fields || []), ...(s.layout.compat || [])];
    const rank = (f) => (order.includes(f.k) ? order.indexOf(f.k) : order.length);
    s.fields.sort((a, b) => rank(a) - rank(b));
    s.compat.sort((a, b) => rank(a) - rank(b));
    delete s.layout;
  }
  return { sections: [...sections.values()], top };
}

const built = build();

/** The sections: {key, title, toggle, enabled, fields, compat} (enabled may be null). */
export const SECTIONS = built.sections;
/** The fields outside any section. */
export const TOP = built.top;

/** Every field of a section, enabled first. */
export function fieldsOf(section) {
  return [section.enabled, ...section.fields, ...section.compat].filter(Boolean);
}

/** Every field with its dotted path: [{path, section, field}] */
export function allFields() {
  const out = [];
  for (const s of SECTIONS) for (const f of fieldsOf(s)) out.push({ path: `${s.key}.${f.k}`, section: s, field: f });
  for (const f of TOP) out.push({ path: f.k, section: null, field: f });
  return out;
}

/** The canonical path of a field given by another name (`contour.baseFreq` → `contour.baseFrequency`). */
export const canonicalPath = (path) => ALIASES[path] ?? path;

/** A render option's range and default: {min, max, step, d}. */
export function option(name) {
  const leaf = OPTION_FIELDS.find((o) => o.path === name);
  if (!leaf) throw new Error(`no render option ${name}`);
  const { minimum, maximum, multipleOf, default: d } = leaf.schema;
  return { min: minimum, max: maximum, step: multipleOf ?? 1, d };
}

/** The options the page chooses, at their defaults (the others take the server's). */
export const OPTIONS = { size: option('size').d, frames: option('frames').d };

/** Fresh default settings (canonical dialect, every field present). */
export function defaults() {
  const out = {};
  for (const { path, field } of allFields()) setPath(out, path, field.d);
  return out;
}

export const decimals = (step) => (String(step).split('.')[1] || '').length;

/** A random but valid value for a field, on its slider's steps. */
function randomValue(f) {
  if (f.t === 'bool') return f.d;
  if (f.t === 'choice') return f.choices[Math.floor(Math.random() * f.choices.length)];
  if (f.t === 'color') return '#' + Math.floor(Math.random() * 0x1000000).toString(16).padStart(6, '0');
  const n = Math.round((f.max - f.min) / f.step);
  return Number((f.min + Math.floor(Math.random() * (n + 1)) * f.step).toFixed(decimals(f.step)));
}

/** Random settings; layer toggles keep their current values. */
export function randomise(current) {
  const out = defaults();
  for (const { path, field } of allFields()) {
    const v = field.t === 'bool' ? getPath(current, path) : randomValue(field);
    setPath(out, path, v);
  }
  // dense, long lines are slow to render; keep randomised pictures quick to preview
  out.flowFields.lineDensity = Math.min(out.flowFields.lineDensity, 0.25);
  return out;
}

export function getPath(obj, path) {
  return path.split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), obj);
}

export function setPath(obj, path, value) {
  const parts = path.split('.');
  let o = obj;
  for (const k of parts.slice(0, -1)) o = o[k] ??= {};
  o[parts.at(-1)] = value;
}

/**
 * Imported JSON (either dialect: `baseFrequency` or the original's `baseFreq`) laid over the
 * defaults. Values are kept as given, even invalid ones, so the server can name what is wrong;
 * unknown keys are dropped and reported.
 */
export function importSettings(json) {
  const data = json && typeof json === 'object' && json.settings && typeof json.settings === 'object' ? json.settings : json;
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new Error('Settings must be a JSON object');
  const out = defaults();
  const ignored = [];
  const known = new Set(allFields().map((x) => x.path));
  for (const [key, value] of Object.entries(data)) {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) {
        const path = canonicalPath(`${key}.${k}`);
        if (known.has(path)) setPath(out, path, v);
        else ignored.push(`${key}.${k}`);
      }
    } else if (known.has(canonicalPath(key))) setPath(out, canonicalPath(key), value);
    else ignored.push(key);
  }
  return { settings: out, ignored };
}

// what the original app's exported settings lack in every layer
const NOT_IN_ORIGINAL = ['rotation', 'direction'];

/** Settings as JSON text in a dialect: 'lantern' (canonical) or 'original' (baseFreq, no rotation/direction). */
export function exportSettings(settings, dialect) {
  const copy = structuredClone(settings);
  if (dialect === 'original') {
    for (const [alias, path] of Object.entries(ALIASES)) {
      const value = getPath(copy, path);
      if (value === undefined) continue;
      const parent = path.includes('.') ? getPath(copy, path.slice(0, path.lastIndexOf('.'))) : copy;
      parent[alias.split('.').at(-1)] = value;
      delete parent[path.split('.').at(-1)];
    }
    for (const s of SECTIONS) for (const k of NOT_IN_ORIGINAL) delete copy[s.key][k];
  }
  return JSON.stringify(copy, null, 2);
}

/** The preview's query string: every setting as a dotted key. */
export function previewQuery(settings, size) {
  const q = new URLSearchParams();
  for (const { path } of allFields()) q.set(path, String(getPath(settings, path)));
  q.set('size', String(size));
  return q;
}
