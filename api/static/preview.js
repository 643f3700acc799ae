// The live preview: one frame of the current settings, fetched (debounced) on every change, and
// a few frames of the loop cycled when motion is on. A 422 marks the fields it names.

import { $ } from './dom.js';
import { showErrors } from './errors.js';
import { previewQuery } from './schema.js';
import { state } from './state.js';

const ANIM_FRAMES = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90];

let previewTimer = 0, previewAbort = null, generation = 0, animTimer = 0, animUrls = [];
const previewImg = () => $('preview');

function previewSize() {
  const px = previewImg().parentElement.clientWidth * (devicePixelRatio || 1);
  return px > 300 ? 384 : 256;
}

/** Load the preview shortly (a dragged slider sends one request). */
export function schedulePreview() {
  clearTimeout(previewTimer);
  $('pv-status').textContent = 'Updating preview…';
  previewTimer = setTimeout(loadPreview, 250);
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

/** Load the preview of the current settings now (an earlier load still running is dropped). */
export async function loadPreview() {
  previewAbort?.abort();
  previewAbort = new AbortController();
  const mine = ++generation;
  stopAnimation();
  const query = previewQuery(state.settings, previewSize());
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

/** Turn the preview's motion on or off (and load it again). */
export function setAnimate(on) {
  $('animate').setAttribute('aria-pressed', String(on));
  $('animate').textContent = on ? 'Pause motion' : 'Play motion';
  loadPreview();
}
