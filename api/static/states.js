// A job's states as the page says them: the steps of the progress list and the bar's words.
// The states themselves, their order and which are terminal come from the server (contract.js,
// generated from lantern/contract.py's JobState).

import { JobState, PATH } from './contract.js';

/** The label of each step a job that succeeds goes through. */
export const STEP_LABELS = {
  [JobState.QUEUED]: 'Queued',
  [JobState.RENDERING]: 'Rendering',
  [JobState.ENCODING]: 'Encoding',
  [JobState.PINNING]: 'Pinning',
  [JobState.COMPLETED]: 'Done',
};

/** The progress list: [{state, label}] in the order of a job that succeeds. */
export const STEPS = PATH.map((state) => ({ state, label: STEP_LABELS[state] ?? state }));

/** What the progress bar says for a status. */
export function stageText(job) {
  const detail = job.detail || '';
  switch (job.state) {
    case JobState.QUEUED: return 'Queued — waiting for a worker';
    case JobState.RENDERING: return /^\d+\/\d+ frames$/.test(detail) ? `Rendering ${detail}` : `Rendering — ${detail || 'starting'}`;
    case JobState.ENCODING: return 'Encoding the GIF';
    case JobState.PINNING: return detail === 'GIF pinned' ? 'Pinning — metadata' : 'Pinning to IPFS';
    case JobState.COMPLETED: return 'Done — pinned';
    case JobState.MINTED: return job.token ? `Minted — token #${job.token.token_id}` : 'Minted';
    case JobState.FAILED: return 'Failed';
    default: return job.state;
  }
}
