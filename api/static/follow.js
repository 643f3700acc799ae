// Following a job: Server-Sent Events first, polling every 2 s when the stream fails (a proxy
// that buffers, a dropped connection), and back to the stream once the server answers again.
// Following stops at a terminal state (the server's list, contract.js).

import { TERMINAL as TERMINAL_STATES } from './contract.js';

const TERMINAL = new Set(TERMINAL_STATES);
const POLL_MS = 2000;

/**
 * Follow job `id`: `onStatus(job)` on every status, `onConn(mode)` with 'live' | 'polling' |
 * 'offline', `onGone()` if the job is unknown. Returns a function that stops following.
 */
export function follow(id, { onStatus, onConn, onGone }) {
  let source = null, timer = 0, stopped = false, streamFailures = 0, last = null;
  const statusUrl = `/api/v1/jobs/${id}`;

  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
  const deliver = (job) => {
    last = job;
    onStatus(job);
    if (TERMINAL.has(job.state)) stop();
  };

  const stream = () => {
    if (stopped || typeof EventSource === 'undefined') return poll();
    source = new EventSource(`${statusUrl}/events`);
    source.onopen = () => onConn('live');
    source.onmessage = (e) => {
      streamFailures = 0;
      try { deliver(JSON.parse(e.data)); } catch { /* a torn message: the next one will do */ }
    };
    source.onerror = () => {
      // closed after a terminal state (normal) or dropped: either way, ask plainly
      source.close();
      source = null;
      if (stopped) return;
      streamFailures++;
      onConn('polling');
      timer = setTimeout(poll, last && !TERMINAL.has(last.state) ? 0 : POLL_MS);
    };
  };

  const poll = async () => {
    if (stopped) return;
    try {
      const r = await fetch(statusUrl, { cache: 'no-store' });
      if (r.status === 404) { stop(); onGone(); return; }
      if (!r.ok) throw new Error(String(r.status));
      deliver(await r.json());
      if (stopped) return;
      // the server answers: retry the stream a few times, then settle for polling
      if (streamFailures < 3) return stream();
      onConn('polling');
    } catch {
      onConn('offline');
    }
    timer = setTimeout(poll, POLL_MS);
  };

  // a first plain GET paints the state at once (and turns an unknown job into a 404 message)
  poll();
  addEventListener('online', () => { if (!stopped) { clearTimeout(timer); poll(); } });
  return stop;
}
