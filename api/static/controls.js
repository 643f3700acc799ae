// The controls: one per setting, built from the schema (the server's ranges and defaults, the
// page's labels), painted from the state and writing back to it; and the output options.

import { $, h, idOf } from './dom.js';
import { setError } from './errors.js';
import { SECTIONS, TOP, allFields, decimals, getPath, option, setPath } from './schema.js';
import { commit, state } from './state.js';

const show = (value, f) => (typeof value === 'number' && f.step ? value.toFixed(decimals(f.step)) : String(value)) + (f.unit || '');

function control(path, f) {
  const id = idOf(path);
  const err = h('p', { class: 'err', id: `${id}-err` });
  const hint = f.t === 'range' ? h('p', { class: 'hint', id: `${id}-hint` }, `${f.min}–${f.max}${f.unit || ''}${f.help ? ` · ${f.help}` : ''}`) : null;
  const described = [hint && `${id}-hint`, `${id}-err`].filter(Boolean).join(' ');
  const onInput = (e) => update(path, f, e.target);
  if (f.t === 'bool') {
    return h('div', { class: 'field check' },
      h('input', { type: 'checkbox', id, 'aria-describedby': described, onchange: onInput }),
      h('label', { for: id }, f.label), err);
  }
  if (f.t === 'choice') {
    return h('div', { class: 'field' }, h('label', { for: id }, f.label),
      h('select', { id, 'aria-describedby': described, onchange: onInput },
        ...f.choices.map((v, i) => h('option', { value: String(v) }, f.names[i]))), err);
  }
  const out = h('output', { id: `${id}-out`, for: id });
  const attrs = f.t === 'color' ? { type: 'color' } : { type: 'range', min: f.min, max: f.max, step: f.step };
  return h('div', { class: `field ${f.t}` },
    h('div', { class: 'lab' }, h('label', { for: id }, f.label), out),
    h('input', { ...attrs, id, 'aria-describedby': described, oninput: onInput }), hint, err);
}

/** Build every settings control, and set the output options' ranges from the server's. */
export function buildControls() {
  const root = $('fields');
  for (const s of SECTIONS) {
    const fs = h('fieldset', { class: 'card layer', id: `sec-${s.key}` },
      h('legend', {}, s.title), s.enabled && control(`${s.key}.enabled`, s.enabled),
      h('div', { class: 'grid' }, ...s.fields.map((f) => control(`${s.key}.${f.k}`, f))));
    if (s.compat.length) {
      fs.append(h('details', { class: 'compat' },
        h('summary', {}, 'Original wave settings (kept for compatibility, no visible effect)'),
        h('div', { class: 'grid' }, ...s.compat.map((f) => control(`${s.key}.${f.k}`, f)))));
    }
    root.append(fs);
  }
  if (TOP.length) {
    root.append(h('fieldset', { class: 'card layer' }, h('legend', {}, 'Layers together'),
      ...TOP.map((f) => control(f.k, f))));
  }

  const frames = option('frames'), delay = option('delay_ms');
  const input = $('options-frames');
  for (const k of ['min', 'max', 'step']) input.setAttribute(k, String(frames[k]));
  $('options-frames-hint').textContent =
    `${frames.min}–${frames.max} · ${frames.d} frames at ${delay.d} ms is a ${(frames.d * delay.d) / 1000} s loop`;
  for (const id of ['options-size', 'options-frames']) $(id).addEventListener('change', () => setError(`options.${id.slice(8)}`, ''));
}

/** Show the state in the controls. */
export function paint() {
  const { settings, options } = state;
  for (const { path, field: f } of allFields()) {
    const el = $(idOf(path));
    const v = getPath(settings, path);
    if (f.t === 'bool') el.checked = v === true;
    else if (f.t === 'choice') el.value = String(v);
    else {
      // an imported out-of-range value stays in the settings (the server will name it);
      // the slider can only show it clamped, its label shows it as it is
      el.value = String(v);
      $(`${idOf(path)}-out`).value = show(v, f);
      if (f.unit) el.setAttribute('aria-valuetext', show(v, f));
    }
  }
  for (const s of SECTIONS) $(`sec-${s.key}`).classList.toggle('off', Boolean(s.enabled) && settings[s.key].enabled !== true);
  $('options-size').value = String(options.size);
  $('options-frames').value = String(options.frames);
}

function update(path, f, el) {
  let v;
  if (f.t === 'bool') v = el.checked;
  else if (f.t === 'choice') v = f.choices.find((c) => String(c) === el.value);
  else if (f.t === 'color') v = el.value;
  else v = Number(el.value);
  setPath(state.settings, path, v);
  setError(`settings.${path}`, '');
  commit();
}

/** The output options as the controls have them. */
export function readOptions() {
  return { size: Number($('options-size').value), frames: Number($('options-frames').value) };
}
