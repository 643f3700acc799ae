// The creator page: controls → live preview → Render & pin → progress → the GIF.
// Plain ES modules, no build step; this one starts the page and routes between the editor and
// a job. The server validates everything; the page shows what it says.

import { buildControls, paint } from './controls.js';
import { $ } from './dom.js';
import { initImportExport } from './io.js';
import { buildSteps, closeJob, openJob } from './job.js';
import { loadPreview, schedulePreview, setAnimate } from './preview.js';
import { defaults, randomise } from './schema.js';
import { commit, onChange, state } from './state.js';
import { onAccepted, submit } from './submit.js';
import { initWallet } from './wallet.js';

const reduceMotion = matchMedia('(prefers-reduced-motion: reduce)');

/** `/jobs/{id}` follows that job; anything else is the editor. */
function route() {
  const m = location.pathname.match(/^\/jobs\/([0-9a-f]{32})$/);
  if (m) openJob(m[1], false);
  else closeJob();
  return m;
}

function start() {
  buildControls();
  buildSteps();
  initWallet();
  paint();
  onChange(paint);
  onChange(schedulePreview);
  $('form').addEventListener('submit', submit);
  onAccepted((id) => {
    history.pushState({ job: id }, '', `/jobs/${id}`);
    openJob(id, true);
  });
  $('randomise').onclick = () => commit(randomise(state.settings));
  $('reset').onclick = () => commit(defaults());
  $('animate').onclick = () => setAnimate($('animate').getAttribute('aria-pressed') !== 'true');
  reduceMotion.addEventListener('change', () => setAnimate(!reduceMotion.matches));
  initImportExport();
  addEventListener('popstate', route);
  const isJob = route();
  document.body.dataset.mode = isJob ? 'job' : 'create';
  $('animate').setAttribute('aria-pressed', String(!reduceMotion.matches));
  $('animate').textContent = reduceMotion.matches ? 'Play motion' : 'Pause motion';
  if (!isJob) loadPreview();
}

start();
