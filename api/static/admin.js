// The operator console (/admin): jobs by state, one job whole (request, timeline, error and
// trace), retry / cancel / retry all failed / purge, the dead letters and the workers'
// partitions. Every call carries the operator token, kept in this tab's sessionStorage and never
// in the URL; the API decides everything and the page says what it answered. It refreshes every
// 5 s while the tab is visible, and repaints a part only when its data changed (so focus, open
// dead letters and scroll positions stay where they were).

import { STATES, TERMINAL as TERMINAL_STATES, JobState } from './contract.js';
import { copyButton, h } from './dom.js';

const TOKEN_KEY = 'lantern.admin.token';
const REFRESH_MS = 5000;
const TERMINAL = new Set(TERMINAL_STATES);
/** What an operator is told for these statuses, whatever the body says. */
const PLAIN = {
  401: 'wrong token: the API refused it',
  403: 'operator routes are off: set LANTERN_API_ADMIN_TOKEN',
  503: 'broker unavailable, retrying',
};

/** The element with this id (this page's own: dom.js's `$` is the creator page's). */
const byId = (id) => document.getElementById(id);

let token = sessionStorage.getItem(TOKEN_KEY) || '';
let timer = 0, running = false, again = false, openId = null, counts = {};
const painted = new Map(); // part → the JSON it shows: repaint only on a change
const openLetters = new Set(); // the keys of the dead letters shown expanded

/** A failed call: its HTTP status (0: no answer at all) and what to tell the operator. */
class ApiProblem extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** `method path` with the operator token: the JSON answer, or throws an ApiProblem. */
async function api(method, path) {
  let r;
  try {
    r = await fetch(path, { method, headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
  } catch {
    throw new ApiProblem(0, 'API unreachable, retrying');
  }
  let body = null;
  try { body = await r.json(); } catch { /* not JSON: a proxy's error page */ }
  if (r.ok) return body;
  throw new ApiProblem(r.status, PLAIN[r.status] ?? body?.error?.message ?? `the API answered ${r.status}`);
}

const isAuth = (e) => e instanceof ApiProblem && (e.status === 401 || e.status === 403);

/** True (and nothing to do) when `json` is what `part` already shows; else remember it. */
function unchanged(part, data) {
  const json = JSON.stringify(data);
  if (painted.get(part) === json) return true;
  painted.set(part, json);
  return false;
}

/** Replace `box`'s children, keeping focus on the element with the same data-key. */
function repaint(box, children) {
  const focused = box.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  box.replaceChildren(...children);
  if (focused != null) box.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
}

// -- words --------------------------------------------------------------------------------------

/** A number of seconds as "850 ms", "4.2 s", "3 min 05 s", "2 h 10 min" or "3 d 4 h" (a part
 * that is 0 is left out: "2 h", "7 d"). */
export function span(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return Number.isInteger(s) ? `${s} s` : `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60), hr = Math.floor(m / 60), d = Math.floor(hr / 24);
  const and = (n, unit) => (n ? ` ${unit === 's' ? String(n).padStart(2, '0') : n} ${unit}` : '');
  if (m < 60) return `${m} min${and(Math.floor(s % 60), 's')}`;
  if (hr < 24) return `${hr} h${and(m % 60, 'min')}`;
  return `${d} d${and(hr % 24, 'h')}`;
}

/** Partition numbers as ranges: [0, 1, 2, 3, 5] → "0–3, 5". */
export function ranges(parts) {
  const out = [];
  for (const p of [...parts].sort((a, b) => a - b)) {
    const last = out.at(-1);
    if (last && p === last[1] + 1) last[1] = p;
    else out.push([p, p]);
  }
  return out.map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`)).join(', ');
}

/** A Unix time as a <time>: the time of day today, with the date otherwise. */
function when(at) {
  if (!at) return h('span', { class: 'muted' }, '—');
  const date = new Date(at * 1000);
  const today = date.toDateString() === new Date().toDateString();
  const text = today ? date.toLocaleTimeString() : date.toLocaleString();
  return h('time', { datetime: date.toISOString() }, text);
}

const json = (value) => JSON.stringify(value, null, 2);
const firstLine = (text) => String(text ?? '').split('\n', 1)[0];
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const stateBadge = (state) => h('span', { class: 'state', 'data-state': state }, state);

// -- signing in and out -------------------------------------------------------------------------

function showConsole() {
  byId('signin').hidden = true;
  byId('console').hidden = false;
  byId('sign-out').hidden = false;
}

/** Forget the token and everything shown; back to the sign-in form, saying `why`. */
function signOut(why = '') {
  clearTimeout(timer);
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  openId = null;
  painted.clear();
  for (const id of ['counts', 'jobs-body', 'letters', 'workers-body', 'detail-facts', 'detail-timeline']) byId(id).replaceChildren();
  byId('detail').hidden = true;
  byId('console').hidden = true;
  byId('sign-out').hidden = true;
  byId('signin').hidden = false;
  const input = byId('token');
  byId('signin-msg').textContent = why;
  if (why) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
  input.value = '';
  input.focus();
}

async function signIn(e) {
  e.preventDefault();
  const input = byId('token');
  const value = input.value.trim();
  if (!value) {
    byId('signin-msg').textContent = 'enter the operator token';
    input.setAttribute('aria-invalid', 'true');
    return input.focus();
  }
  token = value;
  byId('signin-button').disabled = true;
  byId('signin-msg').textContent = '';
  try {
    await api('GET', '/api/v1/jobs?limit=1');
  } catch (err) {
    if (isAuth(err)) {
      byId('signin-button').disabled = false;
      return signOut(err.message);
    }
    // anything else (the API or the broker down) the console says, and retries
  }
  byId('signin-button').disabled = false;
  input.removeAttribute('aria-invalid');
  input.value = '';
  sessionStorage.setItem(TOKEN_KEY, token);
  showConsole();
  refresh();
}

// -- refreshing ---------------------------------------------------------------------------------

/** Load every part now, then again in 5 s while the tab is visible. */
async function refresh() {
  clearTimeout(timer);
  if (!token) return;
  if (running) { again = true; return; }
  running = true;
  const results = await Promise.allSettled([loadJobs(), loadDetail(), loadLetters(), loadWorkers()]);
  running = false;
  if (!token) return; // signed out meanwhile
  const problems = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
  const auth = problems.find(isAuth);
  if (auth) return signOut(auth.message);
  const said = problems.length ? problems[0].message : 'Live: refreshing every 5 s';
  if (byId('conn').textContent !== said) byId('conn').textContent = said; // announced on change only
  byId('conn').dataset.tone = problems.length ? 'error' : '';
  byId('updated').replaceChildren('· updated ', when(Date.now() / 1000));
  if (again) { again = false; return refresh(); }
  if (document.visibilityState === 'visible') timer = setTimeout(refresh, REFRESH_MS);
}

// -- jobs ---------------------------------------------------------------------------------------

async function loadJobs() {
  const state = byId('state-filter').value;
  const query = new URLSearchParams({ limit: byId('limit').value, ...(state ? { state } : {}) });
  const answer = await api('GET', `/api/v1/jobs?${query}`);
  counts = answer.counts;
  paintCounts(answer.counts);
  paintJobs(answer.jobs);
}

function paintCounts(byState) {
  if (unchanged('counts', byState)) return;
  const total = Object.values(byState).reduce((a, b) => a + b, 0);
  byId('counts').replaceChildren(
    ...STATES.map((s) => h('div', { 'data-state': s }, h('dt', {}, s), h('dd', {}, String(byState[s] ?? 0)))),
    h('div', { class: 'total' }, h('dt', {}, 'all'), h('dd', {}, String(total))),
  );
  byId('retry-failed').textContent = `Retry all failed (${byState[JobState.FAILED] ?? 0})`;
}

function paintJobs(jobs) {
  if (unchanged('jobs', jobs)) return;
  byId('jobs-empty').hidden = jobs.length > 0;
  repaint(byId('jobs-body'), jobs.map((job) => h('tr', {},
    h('th', { scope: 'row' }, h('button', {
      type: 'button', class: 'job-id', 'data-key': job.job_id, 'aria-controls': 'detail',
      'aria-expanded': String(job.job_id === openId), onclick: () => openJob(job.job_id),
    }, h('code', {}, job.job_id))),
    h('td', {}, stateBadge(job.state)),
    h('td', { class: 'num' }, `${job.progress ?? 0} %`),
    h('td', { class: 'stage' }, job.stage || '—', job.detail ? h('span', { class: 'muted small' }, ` ${job.detail}`) : null),
    h('td', { class: 'num' }, job.created_at && job.updated_at ? span(job.updated_at - job.created_at) : '—'),
    h('td', {}, when(job.updated_at)),
    h('td', { class: 'error' }, job.error || ''),
  )));
}

/** Mark the open job's button (aria-expanded) without repainting the table. */
function markOpen() {
  for (const b of byId('jobs-body').querySelectorAll('button[data-key]')) b.setAttribute('aria-expanded', String(b.dataset.key === openId));
}

// -- one job ------------------------------------------------------------------------------------

async function openJob(id) {
  if (id !== openId) byId('detail-said').textContent = '';
  openId = id;
  painted.delete('detail');
  markOpen();
  byId('detail-title').textContent = `Job ${id}`;
  byId('detail-facts').replaceChildren(h('div', {}, h('dt', {}, 'Loading'), h('dd', {}, '…')));
  byId('detail').hidden = false;
  byId('detail-title').focus();
  try {
    await loadDetail();
  } catch (e) {
    if (isAuth(e)) return signOut(e.message);
    say(`Could not load job ${id}: ${e.message}`, true);
  }
}

function closeJob() {
  const id = openId;
  openId = null;
  byId('detail').hidden = true;
  markOpen();
  byId('jobs-body').querySelector(`[data-key="${CSS.escape(id ?? '')}"]`)?.focus();
}

async function loadDetail() {
  if (!openId) return;
  const id = openId;
  let job;
  try {
    job = await api('GET', `/api/v1/jobs/${id}/detail`);
  } catch (e) {
    if (e.status !== 404) throw e;
    if (openId === id) { closeJob(); say(`Job ${id} is gone (purged, or never here).`, true); }
    return;
  }
  if (openId === id) paintDetail(job);
}

/** Show or hide one of the job's buttons; focus moves to the panel's title if it had it. */
function showButton(id, visible) {
  const button = byId(id);
  if (!visible && document.activeElement === button) byId('detail-title').focus();
  button.hidden = !visible;
}

function paintDetail(job) {
  if (unchanged('detail', job)) return;
  const facts = [
    ['Job', h('span', {}, h('code', {}, job.job_id), copyButton(job.job_id, 'job id'))],
    ['State', stateBadge(job.state)],
    ['Progress', `${job.progress ?? 0} %`],
    ['Stage', [job.stage, job.detail].filter(Boolean).join(' — ') || '—'],
    ['Reason shown to the user', job.reason],
    ['Wallet', job.wallet ? h('code', {}, job.wallet) : null],
    ['Created', when(job.created_at)],
    ['Changed', when(job.updated_at)],
    ['Duration', job.created_at && job.updated_at ? span(job.updated_at - job.created_at) : null],
    ['Operator retries', String(job.retries ?? 0)],
    ['Generation', String(job.generation ?? 0)],
  ];
  byId('detail-facts').replaceChildren(...facts.filter(([, v]) => v != null && v !== '')
    .map(([k, v]) => h('div', { class: k === 'Job' ? 'wide' : null }, h('dt', {}, k), h('dd', {}, v))));
  showButton('detail-retry', job.state === JobState.FAILED);
  showButton('detail-cancel', !TERMINAL.has(job.state));
  byId('detail-request').textContent = job.request ? json(job.request) : 'No request stored (a job from before requests were kept): it cannot be retried.';
  const start = job.created_at || job.timeline?.[0]?.at || 0;
  byId('detail-timeline').replaceChildren(...(job.timeline || []).map((entry) => h('li', {},
    when(entry.at), h('span', { class: 'muted small' }, ` +${span(entry.at - start)} `),
    stateBadge(entry.state), ' ', entry.stage || '', entry.detail ? ` — ${entry.detail}` : '',
    entry.error ? h('span', { class: 'err-text' }, ` ${entry.error}`) : null,
  )));
  const failed = Boolean(job.error || job.trace);
  byId('detail-failure').hidden = !failed;
  byId('detail-error').textContent = job.error || '';
  byId('detail-trace').textContent = job.trace || 'No trace recorded.';
  byId('detail-result-box').hidden = !job.result;
  byId('detail-result').textContent = job.result ? json(job.result) : '';
  byId('detail-token-box').hidden = !job.token;
  byId('detail-token').textContent = job.token ? json(job.token) : '';
}

// -- actions ------------------------------------------------------------------------------------

/** Say an action's outcome in the live region `where`: beside the buttons that did it. */
function say(text, error = false, where = 'action-result') {
  const box = byId(where);
  box.textContent = text;
  box.dataset.tone = error ? 'error' : 'ok';
}

/** Ask in a modal dialog; resolves true if the operator confirms with `verb`. */
function confirmed(question, verb) {
  const dialog = byId('confirm');
  byId('confirm-title').textContent = `${verb}?`;
  byId('confirm-text').textContent = question;
  byId('confirm-ok').textContent = verb;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    byId('confirm-cancel').focus(); // the safe choice is the default one
  });
}

/** Confirm, call, say what came of it (in `where`), refresh. */
async function act(question, verb, call, outcome, where = 'action-result') {
  if (!(await confirmed(question, verb))) return;
  say(`${verb}: sending…`, false, where);
  try {
    say(outcome(await call()), false, where);
  } catch (e) {
    if (isAuth(e)) return signOut(e.message);
    say(`${verb} refused: ${e.message}`, true, where);
  }
  painted.delete('detail');
  refresh();
}

function retryJob() {
  const id = openId;
  act(`Run failed job ${id} again from its stored request?`, 'Retry',
    () => api('POST', `/api/v1/jobs/${id}/retry`), () => `Job ${id} is queued again.`, 'detail-said');
}

function cancelJob() {
  const id = openId;
  act(`Fail job ${id} now ("cancelled by an operator")? Work in flight finishes and is thrown away.`, 'Cancel job',
    () => api('POST', `/api/v1/jobs/${id}/cancel`), () => `Job ${id} is cancelled (failed).`, 'detail-said');
}

function retryFailed() {
  const n = counts[JobState.FAILED] ?? 0;
  act(`Run every failed job (${n} now) again from its stored request?`, 'Retry all failed',
    () => api('POST', '/api/v1/jobs/retry-failed'),
    (a) => `Retried ${plural(a.retried.length, 'job')}` + (a.skipped.length ? `; skipped ${plural(a.skipped.length, 'job')} without a stored request: ${a.skipped.join(', ')}.` : '.'));
}

function purge(e) {
  e.preventDefault();
  const input = byId('purge-hours');
  const hours = Number(input.value);
  if (input.value.trim() === '' || !Number.isFinite(hours) || hours < 0) {
    input.setAttribute('aria-invalid', 'true');
    return say('Purge: give a number of hours, 0 or more.', true);
  }
  input.removeAttribute('aria-invalid');
  byId('action-result').textContent = '';
  const seconds = Math.round(hours * 3600);
  act(`Forget every completed or failed job last changed more than ${span(seconds)} ago? Minted jobs are kept. This cannot be undone.`, 'Purge',
    () => api('POST', `/api/v1/jobs/purge?older_than_s=${seconds}`),
    (a) => `Purged ${plural(a.purged.length, 'job')}.`);
}

// -- dead letters and workers ---------------------------------------------------------------------

/** Load a part the API asks the broker for: a 503 (or no answer) is said beside it too, and
 * the part is repainted once the broker answers again. */
async function fromBroker(part, path) {
  try {
    return await api('GET', path);
  } catch (e) {
    if (!isAuth(e)) byId(`${part}-status`).textContent = e.message;
    painted.delete(part);
    throw e;
  }
}

async function loadLetters() {
  const { dead_letters: letters } = await fromBroker('letters', '/api/v1/dead-letters?limit=50');
  if (unchanged('letters', letters)) return;
  byId('letters-status').textContent = letters.length ? `The newest ${plural(letters.length, 'dead letter')}, newest first.` : 'No dead letters.';
  repaint(byId('letters'), letters.map(letterItem));
}

function letterItem(letter) {
  const key = [letter.job_id, letter.stage, letter.at, letter.key, letter.attempts].join('|');
  let payload = letter.payload;
  try { payload = json(JSON.parse(letter.payload)); } catch { /* shown as it came */ }
  const facts = [['Job', h('code', {}, letter.job_id)], ['Stage', letter.stage], ['Topic', h('code', {}, letter.topic)],
    ['Key', h('code', {}, letter.key)], ['Attempts', String(letter.attempts)], ['When', when(letter.at)]];
  return h('li', {}, h('details', {
    open: openLetters.has(key),
    ontoggle: (e) => { if (e.target.open) openLetters.add(key); else openLetters.delete(key); },
  },
  h('summary', { 'data-key': key }, when(letter.at), ` · ${letter.stage} · `, h('code', {}, letter.job_id),
    ` · ${plural(letter.attempts, 'attempt')} · `, h('span', { class: 'err-text' }, firstLine(letter.error))),
  h('dl', { class: 'facts' }, ...facts.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))),
  h('h3', {}, 'Error'), h('p', { class: 'err-text' }, letter.error),
  h('h3', {}, 'Payload'), h('pre', { tabindex: '0' }, payload),
  letter.trace ? h('h3', {}, 'Trace') : null, letter.trace ? h('pre', { tabindex: '0' }, letter.trace) : null,
  ));
}

async function loadWorkers() {
  const group = await fromBroker('workers', '/api/v1/workers');
  if (unchanged('workers', group)) return;
  const n = group.members.length;
  byId('workers-status').textContent = `Group ${group.group}: ${group.state}, ${plural(n, 'member')}.`;
  byId('workers-body').replaceChildren(...group.members.map((m) => h('tr', {},
    h('th', { scope: 'row' }, m.client_id, h('br'), h('code', { class: 'small muted' }, m.member_id)),
    h('td', {}, h('code', {}, m.host)),
    h('td', {}, Object.keys(m.partitions).length
      ? h('ul', { class: 'parts' }, ...Object.entries(m.partitions).map(([topic, parts]) =>
        h('li', {}, h('code', {}, topic), `: ${ranges(parts)}`)))
      : h('span', { class: 'muted' }, 'none')),
  )));
}

// -- start --------------------------------------------------------------------------------------

function start() {
  byId('state-filter').append(...STATES.map((s) => h('option', { value: s }, s)));
  byId('signin-form').addEventListener('submit', signIn);
  byId('sign-out').onclick = () => signOut();
  byId('refresh').onclick = () => refresh();
  byId('state-filter').onchange = () => refresh();
  byId('limit').onchange = () => refresh();
  byId('detail-close').onclick = closeJob;
  byId('detail-retry').onclick = retryJob;
  byId('detail-cancel').onclick = cancelJob;
  byId('retry-failed').onclick = retryFailed;
  byId('purge-form').addEventListener('submit', purge);
  byId('confirm-ok').onclick = () => byId('confirm').close('ok');
  byId('confirm-cancel').onclick = () => byId('confirm').close('cancel');
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') refresh();
    else clearTimeout(timer);
  });
  if (token) {
    showConsole();
    refresh();
  } else {
    byId('token').focus();
  }
}

start();
