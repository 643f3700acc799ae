// Errors beside their controls: a field path the server names (`settings.contour.levels`,
// `options.frames`, `wallet`) is shown under its control, and a summary lists them all.

import { $, h, idOf } from './dom.js';
import { canonicalPath } from './schema.js';

const errorPaths = new Set();

/** The control a server field path belongs to (`settings.flowFields.baseFreq` → its slider). */
function controlFor(path) {
  if (!path) return null;
  return $(idOf(path.startsWith('settings.') ? canonicalPath(path.slice('settings.'.length)) : path));
}

const labelOf = (el) => document.querySelector(`label[for="${el.id}"]`)?.textContent ?? el.id;

/** Show `message` under the control of `path` ('' clears it); false if no control is found. */
export function setError(path, message) {
  const el = controlFor(path);
  if (!el) return false;
  const err = $(`${el.id}-err`);
  err.textContent = message ? `${labelOf(el)} ${message}` : '';
  if (message) {
    el.setAttribute('aria-invalid', 'true');
    errorPaths.add(path);
    el.closest('details')?.setAttribute('open', '');
  } else {
    el.removeAttribute('aria-invalid');
    errorPaths.delete(path);
  }
  return true;
}

/** Show a 422's details; `scope` clears earlier errors whose path starts with it. */
export function showErrors(details, scope) {
  for (const p of [...errorPaths]) if (p.startsWith(scope)) setError(p, '');
  const unplaced = [];
  for (const d of details) if (!setError(d.field, d.reason)) unplaced.push(`${d.field || 'request'}: ${d.reason}`);
  return unplaced;
}

/** The summary above the form: every problem, each a link to its control. */
export function showSummary(details, unplaced) {
  const box = $('summary');
  box.replaceChildren();
  if (!details.length) { box.hidden = true; return; }
  const n = details.length;
  box.append(h('p', {}, h('strong', {}, n === 1 ? 'One field needs attention:' : `${n} fields need attention:`)),
    h('ul', {}, ...details.map((d) => {
      const el = controlFor(d.field);
      const text = `${el ? labelOf(el) : d.field} ${d.reason}`;
      return h('li', {}, el ? h('a', { href: `#${el.id}`, onclick: (e) => { e.preventDefault(); el.focus(); } }, text) : text);
    })));
  if (unplaced.length) box.append(h('p', {}, unplaced.join('; ')));
  box.hidden = false;
  box.focus();
}
