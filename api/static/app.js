// The creator page: controls → live preview → Render & pin → progress → the GIF.
// Plain ES modules, no build step. The server validates everything; the page shows what it says.

import {
  OPTIONS, SECTIONS, TOP, allFields, defaults, exportSettings, fieldsOf, getPath,
  importSettings, previewQuery, randomise, setPath,
} from './schema.js';
import { follow, stageText } from './follow.js';
import { toChecksumAddress, walletProblem } from './wallet.js';

const $ = (id) => document.getElementById(id);
const SAMPLE_WALLET = '0x52908400098527886E0F7030069857D2E4169EE7'; // EIP-55's own example
const STEPS = ['queued', 'rendering', 'encoding', 'pinning', 'completed'];
const ANIM_FRAMES = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90];
const reduceMotion = matchMedia('(prefers-reduced-motion: reduce)');

const store = {
  get(key, fallback) {
    try { return JSON.parse(localStorage.getItem(`lantern.${key}`)) ?? fallback; } catch { return fallback; }
  },
  set(key, value) {
    try { localStorage.setItem(`lantern.${key}`, JSON.stringify(value)); } catch { /* private mode */ }
  },
};

let settings = importSettings(store.get('settings', {})).settings;
let options = { ...OPTIONS, ...store.get('options', {}) };

/** Tiny element builder: h('p', {class: 'x'}, 'text', child). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  el.append(...children.filter((c) => c != null));
  return el;
}

const idOf = (path) => path.replaceAll('.', '-');
const decimals = (step) => (String(step).split('.')[1] || '').length;
const show = (value, f) => (typeof value === 'number' && f.step ? value.toFixed(decimals(f.step)) : String(value)) + (f.unit || '');

// ---------------------------------------------------------------- controls

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
  if (f.t === 'dir') {
    const names = path.startsWith('flowFields') ? ['As the wave flows (1)', 'Mirrored (−1)'] : ['Clockwise (1)', 'Counter-clockwise (−1)'];
    return h('div', { class: 'field' }, h('label', { for: id }, f.label),
      h('select', { id, 'aria-describedby': described, onchange: onInput },
        h('option', { value: '1' }, names[0]), h('option', { value: '-1' }, names[1])), err);
  }
  const out = h('output', { id: `${id}-out`, for: id });
  const attrs = f.t === 'color' ? { type: 'color' } : { type: 'range', min: f.min, max: f.max, step: f.step };
  return h('div', { class: `field ${f.t}` },
    h('div', { class: 'lab' }, h('label', { for: id }, f.label), out),
    h('input', { ...attrs, id, 'aria-describedby': described, oninput: onInput }), hint, err);
}

function buildControls() {
  const root = $('fields');
  for (const s of SECTIONS) {
    const [enabled, ...rest] = fieldsOf(s).filter((f) => !(s.compat || []).includes(f));
    const fs = h('fieldset', { class: 'card layer', id: `sec-${s.key}` },
      h('legend', {}, s.title), control(`${s.key}.enabled`, enabled),
      h('div', { class: 'grid' }, ...rest.map((f) => control(`${s.key}.${f.k}`, f))));
    if (s.compat) {
      fs.append(h('details', { class: 'compat' },
        h('summary', {}, 'Original wave settings (kept for compatibility, no visible effect)'),
        h('div', { class: 'grid' }, ...s.compat.map((f) => control(`${s.key}.${f.k}`, f)))));
    }
    root.append(fs);
  }
  root.append(h('fieldset', { class: 'card layer' }, h('legend', {}, 'Layers together'),
    ...TOP.map((f) => control(f.k, f))));
}

function paint() {
  for (const { path, field: f } of allFields()) {
    const el = $(idOf(path));
    const v = getPath(settings, path);
    if (f.t === 'bool') el.checked = v === true;
    else if (f.t === 'dir') el.value = String(v);
    else {
      // an imported out-of-range value stays in the settings (the server will name it);
      // the slider can only show it clamped, its label shows it as it is
      el.value = String(v);
      $(`${idOf(path)}-out`).value = show(v, f);
      if (f.unit) el.setAttribute('aria-valuetext', show(v, f));
    }
  }
  for (const s of SECTIONS) $(`sec-${s.key}`).classList.toggle('off', settings[s.key].enabled !== true);
  $('options-size').value = String(options.size);
  $('options-frames').value = String(options.frames);
}

function update(path, f, el) {
  let v;
  if (f.t === 'bool') v = el.checked;
  else if (f.t === 'dir') v = Number(el.value);
  else if (f.t === 'color') v = el.value;
  else v = Number(el.value);
  setPath(settings, path, v);
  setError(`settings.${path}`, '');
  paint();
  changed();
}

function changed() {
  store.set('settings', settings);
  schedulePreview();
}

// ---------------------------------------------------------------- errors next to controls

const errorPaths = new Set();

/** The control a server field path belongs to (`settings.flowFields.baseFreq` → its slider). */
function controlFor(path) {
  const local = path.replace(/^settings\./, '').replace(/\.baseFreq$/, '.baseFrequency');
  return $(idOf(path.startsWith('settings.') ? local : path));
}

function setError(path, message) {
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

const labelOf = (el) => document.querySelector(`label[for="${el.id}"]`)?.textContent ?? el.id;

/** Show a 422's details; `scope` clears earlier errors whose path starts with it. */
function showErrors(details, scope) {
  for (const p of [...errorPaths]) if (p.startsWith(scope)) setError(p, '');
  const unplaced = [];
  for (const d of details) if (!setError(d.field, d.reason)) unplaced.push(`${d.field || 'request'}: ${d.reason}`);
  return unplaced;
}

function showSummary(details, unplaced) {
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

// ---------------------------------------------------------------- preview

let previewTimer = 0, previewAbort = null, generation = 0, animTimer = 0, animUrls = [];
const previewImg = () => $('preview');

function previewSize() {
  const px = previewImg().parentElement.clientWidth * (devicePixelRatio || 1);
  return px > 300 ? 384 : 256;
}

function schedulePreview() {
  clearTimeout(previewTimer);
  $('pv-status').textContent = 'Updating preview…';
  previewTimer = setTimeout(loadPreview, 250); // debounced: a dragged slider sends one request
}

async function fetchFrame(query, frame, signal) {
  const q = new URLSearchParams(query);
  if (frame) q.set('frame', String(frame));
  const r = await fetch(`/api/v1/preview.png?${q}`, { signal });
  if (r.status === 422) {
    const body = await r.json();
    const err = new Error('invalid');
    err.details = body.error.details || [{ field: body.error.field, reason: body.error.message }];
    throw err;
  }
  if (!r.ok) throw new Error(`preview failed (${r.status})`);
  return { url: URL.createObjectURL(await r.blob()), key: (r.headers.get('ETag') || '').replaceAll('"', '') };
}

async function loadPreview() {
  previewAbort?.abort();
  previewAbort = new AbortController();
  const mine = ++generation;
  stopAnimation();
  const query = previewQuery(settings, previewSize());
  const img = previewImg();
  img.closest('.frame').classList.add('busy');
  try {
    const { url, key } = await fetchFrame(query, 0, previewAbort.signal);
    if (mine !== generation) return URL.revokeObjectURL(url);
    showErrors([], 'settings.');
    const old = img.src;
    img.src = url;
    img.dataset.key = key;
    $('thumb').src = url;
    if (old.startsWith('blob:')) URL.revokeObjectURL(old);
    $('pv-status').textContent = 'Preview: first frame';
    animUrls = [url];
    if ($('animate').getAttribute('aria-pressed') === 'true') animate(query, mine);
  } catch (e) {
    if (e.name === 'AbortError' || mine !== generation) return;
    if (e.details) {
      showErrors(e.details, 'settings.');
      $('pv-status').textContent = 'Preview paused: fix the marked fields';
    } else {
      $('pv-status').textContent = 'Preview unavailable — the server did not answer';
    }
  } finally {
    if (mine === generation) img.closest('.frame').classList.remove('busy');
  }
}

/** Fetch a few frames of the loop one after another, then cycle them (never with reduced motion unless asked). */
async function animate(query, mine) {
  const signal = previewAbort.signal;
  try {
    for (const frame of ANIM_FRAMES.slice(1)) {
      const { url } = await fetchFrame(query, frame, signal);
      if (mine !== generation) return URL.revokeObjectURL(url);
      animUrls.push(url);
    }
  } catch { return; }
  let i = 0;
  const img = previewImg();
  $('pv-status').textContent = 'Preview: a few frames of the loop';
  animTimer = setInterval(() => { if (!document.hidden) img.src = animUrls[(i = (i + 1) % animUrls.length)]; }, 300);
}

function stopAnimation() {
  clearInterval(animTimer);
  const current = previewImg().src;
  for (const u of animUrls) if (u !== current) URL.revokeObjectURL(u);
  animUrls = [];
}

function setAnimate(on) {
  $('animate').setAttribute('aria-pressed', String(on));
  $('animate').textContent = on ? 'Pause motion' : 'Play motion';
  loadPreview();
}

// ---------------------------------------------------------------- wallet and options

function walletValue() {
  return $('wallet').value.trim();
}

function checkWallet() {
  const v = walletValue();
  const problem = walletProblem(v);
  setError('wallet', problem && v ? problem : '');
  if (!problem) {
    const sum = toChecksumAddress(v);
    $('wallet-hint').textContent = sum === v ? 'Checksum OK (EIP-55)' : `Will be sent as ${sum}`;
  } else {
    $('wallet-hint').textContent = 'An Ethereum address: 0x and 40 hex digits';
  }
  store.set('wallet', v);
  return problem;
}

// ---------------------------------------------------------------- submit

let following = null, attempt = null, retryTimer = 0;

function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

function message(text, action) {
  const box = $('submit-msg');
  box.replaceChildren(h('span', {}, text));
  if (action) box.append(' ', action);
}

async function submit(e) {
  e?.preventDefault();
  const problem = checkWallet();
  if (problem) {
    setError('wallet', problem);
    showSummary([{ field: 'wallet', reason: problem }], []);
    return;
  }
  options = { size: Number($('options-size').value), frames: Number($('options-frames').value) };
  store.set('options', options);
  attempt = { key: newKey(), body: { settings, options, wallet: toChecksumAddress(walletValue()) } };
  return send();
}

async function send() {
  const button = $('submit');
  button.disabled = true;
  message('Sending…');
  let r;
  try {
    r = await fetch('/api/v1/mints', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': attempt.key },
      body: JSON.stringify(attempt.body),
    });
  } catch {
    button.disabled = false;
    return message('Could not reach Lantern. Check the connection.', h('button', { type: 'button', onclick: send }, 'Retry'));
  }
  const body = await r.json().catch(() => ({}));
  if (r.status === 202) {
    showErrors([], '');
    showSummary([], []);
    message('');
    try { sessionStorage.setItem(`lantern.job.${body.job_id}`, JSON.stringify(attempt.body)); } catch { /* */ }
    history.pushState({ job: body.job_id }, '', `/jobs/${body.job_id}`);
    openJob(body.job_id, true);
    return;
  }
  button.disabled = false;
  const error = body.error || { message: `The server answered ${r.status}` };
  const wait = Math.max(1, Number(r.headers.get('Retry-After')) || 2);
  if (r.status === 422) {
    const details = error.details || [{ field: error.field, reason: error.message }];
    const unplaced = showErrors(details, '');
    showSummary(details, unplaced);
    message('Nothing was sent to render: fix the marked fields.');
  } else if (r.status === 429) {
    // the server's reason without its own "retry in Ns": the countdown says that, live
    const reason = (error.message || 'too many requests').replace(/;?\s*retry.*$/i, '');
    countdown(wait, (s) => `Not now: ${reason}. Try again in ${s} s.`);
  } else if (r.status === 503) {
    message(`${error.message || 'The render queue is unavailable'}.`, h('button', { type: 'button', onclick: send }, 'Retry'));
  } else {
    message(`${error.message || 'Something went wrong'} (${r.status}).`, h('button', { type: 'button', onclick: send }, 'Retry'));
  }
}

function countdown(seconds, text) {
  const button = $('submit');
  button.disabled = true;
  clearInterval(retryTimer);
  const tick = () => {
    if (seconds <= 0) {
      clearInterval(retryTimer);
      button.disabled = false;
      return message('Ready to try again.', h('button', { type: 'button', onclick: send }, 'Retry now'));
    }
    message(text(seconds--));
  };
  tick();
  retryTimer = setInterval(tick, 1000);
}

// ---------------------------------------------------------------- the job

function openJob(id, fromEditor) {
  following?.();
  const panel = $('job');
  panel.hidden = false;
  $('job-id').textContent = id;
  $('job-link').href = `/jobs/${id}`;
  $('result').hidden = true;
  $('job-error').hidden = true;
  $('job-gone').hidden = true;
  renderStatus({ state: 'queued', progress: 0, detail: '' });
  $('submit').disabled = true;
  if (fromEditor) {
    panel.scrollIntoView({ behavior: reduceMotion.matches ? 'auto' : 'smooth', block: 'start' });
    $('job-title').focus({ preventScroll: true });
  }
  following = follow(id, {
    onStatus: renderStatus,
    onConn: (mode) => {
      $('conn').textContent = { live: 'Live updates', polling: 'Reconnecting — checking every 2 s', offline: 'Offline — retrying every 2 s' }[mode];
    },
    onGone: () => {
      $('job-gone').hidden = false;
      $('progress-box').hidden = true;
      $('submit').disabled = false;
    },
  });
}

let announced = '';

function renderStatus(job) {
  $('progress-box').hidden = false;
  const pct = Math.max(0, Math.min(100, Number(job.progress) || 0));
  const text = stageText(job);
  const bar = $('bar');
  bar.setAttribute('aria-valuenow', String(pct));
  bar.setAttribute('aria-valuetext', `${pct}% — ${text}`);
  bar.dataset.state = job.state;
  $('fill').style.width = `${pct}%`;
  $('stage').textContent = text;
  $('pct').textContent = `${pct} %`;
  const at = STEPS.indexOf(job.state);
  document.querySelectorAll('#steps li').forEach((li, i) => {
    li.className = job.state === 'failed' ? '' : i < at ? 'done' : i === at ? 'now' : '';
    if (i === at) li.setAttribute('aria-current', 'step'); else li.removeAttribute('aria-current');
  });
  if (job.state !== announced) {
    // announce stage changes only, not every 5 %
    $('live').textContent = job.state === 'failed' ? 'The render failed' : text;
    announced = job.state;
  }
  if (job.state === 'completed') showResult(job);
  if (job.state === 'failed') showFailure(job);
  if (job.state === 'completed' || job.state === 'failed') {
    $('submit').disabled = false;
    $('conn').textContent = '';
  }
}

function copyButton(text, what) {
  return h('button', { type: 'button', class: 'copy', 'aria-label': `Copy ${what}`, onclick: () => copy(text, what) }, 'Copy');
}

async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // no async clipboard outside secure contexts: the old way
    const t = h('textarea', { readonly: true, class: 'vh' });
    t.value = text;
    document.body.append(t);
    t.select();
    document.execCommand('copy');
    t.remove();
  }
  $('live').textContent = `${what} copied`;
}

async function showResult(job) {
  const r = job.result || {};
  const gif = `/ipfs/${r.gif_cid}`;
  document.title = 'Done · Lantern Gen1';
  $('gif').src = gif;
  $('gif-download').href = gif;
  $('gif-download').setAttribute('download', `gen1-${job.job_id}.gif`);
  const rows = [
    ['GIF CID', r.gif_cid], ['Metadata CID', r.metadata_cid], ['Token URI', r.token_uri],
  ];
  $('cids').replaceChildren(...rows.filter(([, v]) => v).map(([k, v]) =>
    h('div', {}, h('dt', {}, k), h('dd', {}, h('code', {}, v), copyButton(v, k)))));
  // this server's own gateway always answers; the recorded links may name a public one
  const links = [['GIF on this gateway', gif], ['Metadata on this gateway', `/ipfs/${r.metadata_cid}`]];
  for (const [what, url] of [['GIF', r.image_url], ['Metadata', r.metadata_url]]) {
    try {
      const u = new URL(url);
      if (u.origin !== location.origin) links.push([`${what} on ${u.host}`, url]);
    } catch { /* no link recorded */ }
  }
  $('links').replaceChildren(...links.map(([k, v]) => h('li', {}, h('a', { href: v }, k))));
  $('result').hidden = false;
  try {
    const meta = await (await fetch(`/ipfs/${r.metadata_cid}`)).json();
    const text = JSON.stringify(meta, null, 2);
    $('meta').textContent = text;
    $('meta-copy').replaceChildren(copyButton(text, 'Metadata JSON'));
    const used = meta?.properties?.settings;
    $('edit-these').hidden = !used;
    $('edit-these').onclick = () => { store.set('settings', used); location.href = '/'; };
  } catch {
    $('meta').textContent = 'The metadata could not be loaded.';
  }
}

function showFailure(job) {
  const box = $('job-error');
  const request = JSON.parse(sessionStorage.getItem(`lantern.job.${job.job_id}`) || 'null');
  box.replaceChildren(h('p', {}, h('strong', {}, 'The render failed: '), job.error || 'no reason was given.'));
  if (request) {
    box.append(h('button', { type: 'button', class: 'primary', onclick: () => { attempt = { key: newKey(), body: request }; send(); } }, 'Retry this render'));
  } else {
    box.append(h('a', { href: '/' }, 'Start again in the editor'));
  }
  box.hidden = false;
}

// ---------------------------------------------------------------- import / export

function exportText() {
  return exportSettings(settings, $('dialect').value);
}

function doImport(text) {
  const status = $('io-status');
  try {
    const { settings: imported, ignored } = importSettings(JSON.parse(text));
    settings = imported;
    paint();
    changed();
    status.textContent = `Imported.${ignored.length ? ` Ignored unknown fields: ${ignored.join(', ')}.` : ''}`;
  } catch (e) {
    status.textContent = `Could not import: ${e.message}`;
  }
}

function wireImportExport() {
  $('export').onclick = () => { $('json').value = exportText(); $('io-status').textContent = 'Settings written below.'; };
  $('download').onclick = () => {
    const a = h('a', { href: URL.createObjectURL(new Blob([exportText()], { type: 'application/json' })), download: 'gen1-settings.json' });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };
  $('copy-json').onclick = () => copy(exportText(), 'Settings JSON');
  $('apply-json').onclick = () => doImport($('json').value);
  $('file').onchange = async (e) => { const f = e.target.files[0]; if (f) doImport(await f.text()); e.target.value = ''; };
}

// ---------------------------------------------------------------- start

function route() {
  const m = location.pathname.match(/^\/jobs\/([0-9a-f]{32})$/);
  if (m) openJob(m[1], false);
  else {
    following?.();
    $('job').hidden = true;
    $('submit').disabled = false;
  }
  return m;
}

function start() {
  buildControls();
  const wallet = store.get('wallet', '');
  $('wallet').value = wallet || SAMPLE_WALLET;
  $('sample-note').hidden = Boolean(wallet && wallet !== SAMPLE_WALLET);
  paint();
  checkWallet();
  $('form').addEventListener('submit', submit);
  $('wallet').addEventListener('input', () => { $('sample-note').hidden = true; checkWallet(); });
  $('randomise').onclick = () => { settings = randomise(settings); paint(); changed(); };
  $('reset').onclick = () => { settings = defaults(); paint(); changed(); };
  $('animate').onclick = () => setAnimate($('animate').getAttribute('aria-pressed') !== 'true');
  reduceMotion.addEventListener('change', () => setAnimate(!reduceMotion.matches));
  for (const id of ['options-size', 'options-frames']) $(id).addEventListener('change', () => setError(`options.${id.slice(8)}`, ''));
  wireImportExport();
  addEventListener('popstate', route);
  const isJob = route();
  document.body.dataset.mode = isJob ? 'job' : 'create';
  $('animate').setAttribute('aria-pressed', String(!reduceMotion.matches));
  $('animate').textContent = reduceMotion.matches ? 'Play motion' : 'Pause motion';
  if (!isJob) loadPreview();
}

start();
