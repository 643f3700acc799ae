// Render & pin: send the settings, options and wallet once (an Idempotency-Key makes a retry
// safe), and say plainly what the server answered: fields to fix, a wait, a retry.

import { readOptions } from './controls.js';
import { $, h } from './dom.js';
import { setError, showErrors, showSummary } from './errors.js';
import { setOptions, state } from './state.js';
import { checkWallet, toChecksumAddress, walletValue } from './wallet.js';

let attempt = null, retryTimer = 0, accepted = () => {};

/** Call `fn(jobId)` when a job is accepted. */
export function onAccepted(fn) {
  accepted = fn;
}

function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

function message(text, action) {
  const box = $('submit-msg');
  box.replaceChildren(h('span', {}, text));
  if (action) box.append(' ', action);
}

/** The form's submit: check the wallet, then send the current settings as a new request. */
export async function submit(e) {
  e?.preventDefault();
  const problem = checkWallet();
  if (problem) {
    setError('wallet', problem);
    showSummary([{ field: 'wallet', reason: problem }], []);
    return;
  }
  setOptions(readOptions());
  return resend({ settings: state.settings, options: state.options, wallet: toChecksumAddress(walletValue()) });
}

/** Send a request body as a new job (a fresh Idempotency-Key). */
export function resend(body) {
  attempt = { key: newKey(), body };
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
    accepted(body.job_id);
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
