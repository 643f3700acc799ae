// The job panel: follow one job (follow.js) and show where it stands — the bar, the steps, the
// GIF and its CIDs when done (and the mint, mint.js), the reason (and a retry) when it failed.

import { JobState, TERMINAL } from './contract.js';
import { $, copyButton, h } from './dom.js';
import { follow } from './follow.js';
import { resetMint, showMint } from './mint.js';
import { store } from './state.js';
import { STEPS, stageText } from './states.js';
import { resend } from './submit.js';

const CONNECTION = { live: 'Live updates', polling: 'Reconnecting — checking every 2 s', offline: 'Offline — retrying every 2 s' };
let following = null, announced = '', shown = '';

/** The progress list, one step per state of a job that succeeds. */
export function buildSteps() {
  $('steps').replaceChildren(...STEPS.map(({ label }) => h('li', {}, label)));
}

/** Show job `id` and follow it; `fromEditor` brings the panel into view and focus. */
export function openJob(id, fromEditor) {
  following?.();
  const panel = $('job');
  panel.hidden = false;
  $('job-id').textContent = id;
  $('job-link').href = `/jobs/${id}`;
  $('result').hidden = true;
  $('job-error').hidden = true;
  $('job-gone').hidden = true;
  shown = '';
  resetMint();
  renderStatus({ state: JobState.QUEUED, progress: 0, detail: '' });
  $('submit').disabled = true;
  if (fromEditor) {
    const reduceMotion = matchMedia('(prefers-reduced-motion: reduce)').matches;
    panel.scrollIntoView({ behavior: reduceMotion ? 'auto' : 'smooth', block: 'start' });
    $('job-title').focus({ preventScroll: true });
  }
  following = follow(id, {
    onStatus: renderStatus,
    onConn: (mode) => { $('conn').textContent = CONNECTION[mode]; },
    onGone: () => {
      $('job-gone').hidden = false;
      $('progress-box').hidden = true;
      $('submit').disabled = false;
    },
  });
}

/** Stop following and hide the panel (back in the editor). */
export function closeJob() {
  following?.();
  resetMint();
  $('job').hidden = true;
  $('submit').disabled = false;
}

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
  // minted is past the last step (done): every step is done
  const at = job.state === JobState.MINTED ? STEPS.length : STEPS.findIndex((s) => s.state === job.state);
  document.querySelectorAll('#steps li').forEach((li, i) => {
    li.className = job.state === JobState.FAILED ? '' : i < at ? 'done' : i === at ? 'now' : '';
    if (i === at) li.setAttribute('aria-current', 'step'); else li.removeAttribute('aria-current');
  });
  if (job.state !== announced) {
    // announce stage changes only, not every 5 %
    $('live').textContent = job.state === JobState.FAILED ? 'The render failed' : text;
    announced = job.state;
  }
  if (job.state === JobState.COMPLETED || job.state === JobState.MINTED) showResult(job);
  if (job.state === JobState.FAILED) showFailure(job);
  if (TERMINAL.includes(job.state)) {
    $('submit').disabled = false;
    $('conn').textContent = '';
  }
}

/** The GIF, its CIDs and metadata (once per job), and the mint panel (on every status). */
async function showResult(job) {
  document.title = job.state === JobState.MINTED ? 'Minted · Lantern Gen1' : 'Done · Lantern Gen1';
  showMint(job, renderStatus);
  if (shown === job.job_id) return;
  shown = job.job_id;
  const r = job.result || {};
  const gif = `/ipfs/${r.gif_cid}`;
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
    box.append(h('button', { type: 'button', class: 'primary', onclick: () => resend(request) }, 'Retry this render'));
  } else {
    box.append(h('a', { href: '/' }, 'Start again in the editor'));
  }
  box.hidden = false;
}
