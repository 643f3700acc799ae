// Gen1 settings as the page knows them (GEN1_SPEC §1): sections, fields, ranges, defaults,
// and the two JSON dialects. The server validates everything again; this only drives controls.

const freq = (d, help) => ({ k: 'baseFrequency', t: 'range', min: 0.001, max: 0.05, step: 0.001, d, label: 'Base frequency', help });
const amp = { k: 'amplitude', t: 'range', min: 0.1, max: 3, step: 0.1, d: 1, label: 'Amplitude' };
const oct = (d) => ({ k: 'octaves', t: 'range', min: 1, max: 8, step: 1, d, label: 'Octaves' });
const rot = { k: 'rotation', t: 'range', min: 0, max: 360, step: 1, d: 0, label: 'Rotation', unit: '°' };
const dir = (label) => ({ k: 'direction', t: 'dir', d: 1, label });

export const SECTIONS = [
  {
    key: 'flowField', title: 'Background gradient', toggle: 'Show the background',
    fields: [
      { k: 'color1', t: 'color', d: '#4ade80', label: 'First colour' },
      { k: 'color2', t: 'color', d: '#22d3ee', label: 'Second colour' },
      dir('Gradient turns'),
    ],
    // accepted and stored, but the art does not use them (kept for the original's clients)
    compat: [freq(0.02), amp, oct(1), rot],
  },
  {
    key: 'flowFields', title: 'Flow lines', toggle: 'Show the flow lines',
    fields: [
      { k: 'lineDensity', t: 'range', min: 0.01, max: 0.5, step: 0.01, d: 0.1, label: 'Line density', help: 'More lines take longer to render' },
      { k: 'lineLength', t: 'range', min: 5, max: 100, step: 1, d: 20, label: 'Line length', unit: ' px' },
      freq(0.01), amp, oct(1), rot,
      dir('Line direction'),
    ],
  },
  {
    key: 'contour', title: 'Contour bands', toggle: 'Show the contour bands',
    fields: [
      { k: 'levels', t: 'range', min: 2, max: 20, step: 1, d: 5, label: 'Levels' },
      { k: 'smoothness', t: 'range', min: 0, max: 1, step: 0.05, d: 0.3, label: 'Smoothness' },
      freq(0.01), amp, oct(4),
    ],
  },
];

export const TOP = [{ k: 'contourAffectsFlow', t: 'bool', d: true, label: 'Contours bend the flow lines' }];

export const OPTIONS = { size: 512, frames: 100 };

/** Every field of a section, enabled first. */
export function fieldsOf(section) {
  return [{ k: 'enabled', t: 'bool', d: true, label: section.toggle }, ...section.fields, ...(section.compat || [])];
}

/** Fresh default settings (canonical dialect, every field present). */
export function defaults() {
  const out = {};
  for (const s of SECTIONS) {
    out[s.key] = {};
    for (const f of fieldsOf(s)) out[s.key][f.k] = f.d;
  }
  for (const f of TOP) out[f.k] = f.d;
  return out;
}

/** Every field with its dotted path: [{path, section, field}] */
export function allFields() {
  const out = [];
  for (const s of SECTIONS) for (const f of fieldsOf(s)) out.push({ path: `${s.key}.${f.k}`, section: s, field: f });
  for (const f of TOP) out.push({ path: f.k, section: null, field: f });
  return out;
}

const decimals = (step) => (String(step).split('.')[1] || '').length;

/** A random but valid value for a field, on its slider's steps. */
function randomValue(f) {
  if (f.t === 'bool') return f.d;
  if (f.t === 'dir') return Math.random() < 0.5 ? 1 : -1;
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
        const path = `${key}.${k === 'baseFreq' ? 'baseFrequency' : k}`;
        if (known.has(path)) setPath(out, path, v);
        else ignored.push(`${key}.${k}`);
      }
    } else if (known.has(key)) out[key] = value;
    else ignored.push(key);
  }
  return { settings: out, ignored };
}

/** Settings as JSON text in a dialect: 'lantern' (canonical) or 'original' (baseFreq, no rotation/direction). */
export function exportSettings(settings, dialect) {
  const copy = structuredClone(settings);
  if (dialect === 'original') {
    for (const s of SECTIONS) {
      const o = copy[s.key];
      o.baseFreq = o.baseFrequency;
      delete o.baseFrequency;
      delete o.rotation;
      delete o.direction;
    }
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
