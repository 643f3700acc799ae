// Mint: a completed job's token, paid and signed by the user's own wallet (an EIP-1193 provider,
// window.ethereum). Lantern builds the transaction (GET …/mint-tx), the wallet sends it, the page
// waits for its receipt and reads the token id; the chain watcher then moves the job to minted
// and names the token, which the page follows by polling the job every 2 s.

import { JobState } from './contract.js';
import { $, copyButton, h } from './dom.js';
import {
  PENDING_REQUEST, UNKNOWN_CHAIN, USER_REJECTED,
  decodeRevert, formatEth, mintedTokenId, revertData, sameChain,
} from './eth.js';

const POLL_MS = 2000;
const RECEIPT_MS = 1000;
const MAX_POLLS = 300; // ten minutes of job polling after a mint, then the link will do

/** A message for the user: thrown to stop the mint and say why. */
class Said extends Error {}

/** The job on show: {id, onJob, chain, loaded, off, busy, sent, minted, polling…}; null when none. */
let current = null;

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** Say how the mint goes, on the page and to screen readers; `tone` 'error' marks a problem. */
function say(text, { tone = '', extra = null } = {}) {
  const box = $('mint-status');
  box.replaceChildren(text, ...(extra ? [' ', extra] : []));
  box.dataset.tone = tone;
  $('live').textContent = box.textContent;
}

/** The button and its price: once the terms are loaded, while minting is on and nothing is sent. */
function paintAction(run) {
  $('mint-action').hidden = !run.loaded || Boolean(run.off || run.sent || run.done);
}

/** Forget the job on show: stop its polling, empty the panel. */
export function resetMint() {
  if (current) clearTimeout(current.timer);
  current = null;
  $('mint').hidden = true;
  $('mint-action').hidden = true;
  $('mint-button').disabled = false;
  $('mint-terms').textContent = '';
  $('mint-status').textContent = '';
  $('token').replaceChildren();
  $('token').hidden = true;
}

/**
 * Show the mint panel for a completed or minted job; `onJob(job)` gets every status the panel
 * polls (the job panel's own renderer).
 */
export function showMint(job, onJob) {
  if (current?.id !== job.job_id) {
    resetMint();
    current = { id: job.job_id, onJob, polls: 0 };
    $('mint-button').onclick = mint;
    if (job.state === JobState.COMPLETED) loadChain(current);
  }
  current.onJob = onJob;
  $('mint').hidden = false;
  if (job.state === JobState.MINTED) {
    current.done = true;
    showToken(job.token || {});
    if (!job.token?.token_uri) pollJob(current); // named a little later
  }
  paintAction(current);
}

/** The chain's terms (GET /api/v1/chain): the price beside the button, the chain to switch to. */
async function loadChain(run) {
  let r, body;
  try {
    r = await fetch('/api/v1/chain', { cache: 'no-store' });
    body = await r.json().catch(() => ({}));
  } catch {
    r = null;
  }
  if (run !== current) return;
  run.loaded = true;
  if (r?.ok && body.enabled === false) {
    // minting is off on this server: no button, a short note instead
    run.off = true;
    paintAction(run);
    say('Minting is off on this server: the GIF and its metadata are pinned, ready to mint elsewhere.');
    return;
  }
  if (r?.status === 503) {
    // no chain here (or unreachable): no button, a short note instead
    run.off = true;
    paintAction(run);
    say(`Minting is not available here now: ${body.error?.message || 'the chain cannot be reached'}.`);
    return;
  }
  if (!r?.ok) {
    run.chain = null;
    run.chainProblem = 'The mint price could not be loaded: check the connection and press Mint again.';
    $('mint-terms').textContent = 'Price: not loaded yet.';
    paintAction(run);
    return;
  }
  run.chain = body;
  run.off = false;
  const cap = Number(body.max_supply);
  const minted = Number(body.total_supply);
  run.soldOut = cap > 0 && minted >= cap;
  $('mint-terms').replaceChildren(
    'Price ', h('strong', {}, body.price || formatEth(body.price_wei)), ' plus gas, on ',
    `${body.chain_name} (chain ${body.chain_id})`,
    cap > 0 ? ` · ${minted} of ${cap} minted` : ` · ${minted} minted`,
  );
  $('mint-button').disabled = Boolean(run.busy || run.soldOut);
  paintAction(run);
  if (run.soldOut) say(`Sold out: all ${cap} tokens are minted.`);
}

/** The Mint button: one attempt at a time; whatever stops it is said, and the button works again. */
async function mint() {
  const run = current;
  if (!run || run.busy) return;
  const button = $('mint-button');
  run.busy = true;
  button.disabled = true;
  try {
    await mintWith(run);
  } catch (err) {
    if (run === current) say(explain(err), { tone: 'error' });
  } finally {
    run.busy = false;
    if (run === current) button.disabled = Boolean(run.soldOut);
  }
}

/** A provider error (or our own message) in words. */
function explain(err) {
  if (err instanceof Said) return err.message;
  if (err?.code === USER_REJECTED) return 'You cancelled in your wallet. Press Mint to try again.';
  if (err?.code === PENDING_REQUEST) return 'Your wallet already has a request waiting: open it and answer that first.';
  return `The wallet answered: ${err?.message || err}. Press Mint to try again.`;
}

/** provider.request, with a user's refusal (4001) turned into `refused`'s words. */
async function ask(provider, method, params, refused) {
  try {
    return await provider.request(params ? { method, params } : { method });
  } catch (err) {
    if (err?.code === USER_REJECTED && refused) throw new Said(refused);
    throw err;
  }
}

/** The wallet this page sent with the job (submit.js keeps the request body), if it did. */
function submittedWallet(id) {
  try {
    return JSON.parse(sessionStorage.getItem(`lantern.job.${id}`) || 'null')?.wallet || '';
  } catch {
    return '';
  }
}

function wrongWallet(expected, account) {
  return expected
    ? `Connect the wallet that submitted this job (${expected}): your wallet gave ${account}. Switch accounts in your wallet and press Mint again.`
    : `Connect the wallet that submitted this job: ${account} did not. Switch accounts in your wallet and press Mint again.`;
}

async function mintWith(run) {
  const provider = window.ethereum;
  if (typeof provider?.request !== 'function') {
    throw new Said('Minting needs a wallet extension in this browser (an Ethereum wallet that signs transactions, such as MetaMask): none was found.');
  }
  if (!run.chain) await loadChain(run);
  if (run.off) return;
  if (!run.chain) throw new Said(run.chainProblem);

  say('Connecting to your wallet…');
  const accounts = await ask(provider, 'eth_requestAccounts', null, 'You declined to connect your wallet. Press Mint to try again.');
  const account = accounts?.[0];
  if (!account) throw new Said('Your wallet shared no account: unlock it and press Mint again.');
  const expected = submittedWallet(run.id);
  if (expected && expected.toLowerCase() !== account.toLowerCase()) throw new Said(wrongWallet(expected, account));

  await useChain(provider, run.chain);

  say('Preparing the transaction…');
  const r = await fetch(`/api/v1/jobs/${run.id}/mint-tx?from=${encodeURIComponent(account)}`, { cache: 'no-store' })
    .catch(() => { throw new Said('Could not reach Lantern: check the connection and press Mint again.'); });
  const answer = await r.json().catch(() => ({}));
  if (run !== current) return;
  if (!r.ok) refused(run, r.status, answer.error || {}, account);

  say(`Confirm the mint in your wallet: ${answer.price} plus gas.`);
  let hash;
  try {
    hash = await ask(provider, 'eth_sendTransaction', [answer.transaction], 'You cancelled in your wallet: nothing was sent. Press Mint to try again.');
  } catch (err) {
    if (err instanceof Said) throw err;
    reverted(run, revertData(err), `Your wallet did not send the transaction: ${err?.message || err}`);
  }
  run.sent = hash; // one transaction per job: no second press while this one counts
  paintAction(run);
  say('Transaction sent — waiting for it to be mined:', { extra: h('code', {}, hash) });

  const receipt = await receiptOf(provider, hash, run);
  if (run !== current) return;
  if (!receipt) {
    say('Transaction sent; your wallet stopped answering, so this page waits for Lantern to see the mint:', { extra: h('code', {}, hash) });
    return pollJob(run);
  }
  if (BigInt(receipt.status ?? 1) === 0n) {
    run.sent = null;
    paintAction(run);
    reverted(run, await replay(provider, answer.transaction, receipt), 'The transaction failed on-chain (it reverted): nothing was minted');
  }
  const tokenId = mintedTokenId(receipt, run.chain.contract);
  run.minted = tokenId;
  say(tokenId ? `Minted — token #${tokenId}. Transaction` : 'Minted. Transaction', { extra: h('code', {}, hash) });
  pollJob(run);
}

/** Put the wallet on the chain Lantern mints on: switch, or add it when the wallet lacks it. */
async function useChain(provider, chain) {
  if (sameChain(await ask(provider, 'eth_chainId'), chain.chain_id)) return;
  say(`Switching your wallet to ${chain.chain_name}…`);
  const declined = `You declined to switch your wallet to ${chain.chain_name}, where the token is minted. Press Mint to try again.`;
  try {
    await ask(provider, 'wallet_switchEthereumChain', [{ chainId: chain.chain_id_hex }], declined);
  } catch (err) {
    const code = err?.data?.originalError?.code ?? err?.code;
    if (code !== UNKNOWN_CHAIN) throw err;
    say(`Adding ${chain.chain_name} to your wallet…`);
    await ask(provider, 'wallet_addEthereumChain', [{
      chainId: chain.chain_id_hex,
      chainName: chain.chain_name,
      rpcUrls: [chain.rpc_url],
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    }], `You declined to add ${chain.chain_name} to your wallet: the token is minted there. Press Mint to try again.`);
  }
  if (!sameChain(await ask(provider, 'eth_chainId'), chain.chain_id)) {
    throw new Said(`Your wallet is still on another chain: switch it to ${chain.chain_name} (chain ${chain.chain_id}) and press Mint again.`);
  }
}

/** The server would not build the transaction: its reason in plain words (throws). */
function refused(run, status, error, account) {
  switch (error.code) {
    case 'not_your_job':
      throw new Said(wrongWallet(submittedWallet(run.id), account));
    case 'insufficient_funds':
      throw new Said(`Not enough ETH in this wallet: ${error.message}.`);
    case 'sold_out':
      run.soldOut = true;
      throw new Said(`Sold out: ${error.message}.`);
    case 'already_minted':
      run.done = true;
      paintAction(run);
      pollJob(run); // the job will show its token
      throw new Said(`Already minted: ${error.message}.`);
    case 'price_changed':
      loadChain(run);
      throw new Said(`The price changed: ${error.message}. Press Mint again.`);
    case 'not_completed':
      throw new Said(`Not ready to mint: ${error.message}.`);
    case 'chain_unavailable':
      throw new Said('The chain cannot be reached now: press Mint again in a moment.');
    default:
      throw new Said(`${error.message || `Lantern answered ${status}`}. Press Mint to try again.`);
  }
}

/** A transaction the contract refused: its custom error in words when the data says which (throws). */
function reverted(run, data, otherwise) {
  const error = decodeRevert(data);
  if (error?.name === 'WrongPrice') {
    loadChain(run); // the new price beside the button
    throw new Said(`The price changed to ${formatEth(error.args[1])}; press Mint again.`);
  }
  if (error?.name === 'SoldOut') {
    run.soldOut = true;
    throw new Said(`Sold out: all ${error.args[0]} tokens are minted.`);
  }
  if (error?.name === 'EmptyMetadataURI') throw new Said('The contract refused a token without metadata: this job cannot be minted.');
  throw new Said(`${otherwise}. Press Mint to try again.`);
}

/** The receipt once mined; null if the wallet stops answering (or the page moved on). */
async function receiptOf(provider, hash, run) {
  let failures = 0;
  while (run === current) {
    try {
      const receipt = await provider.request({ method: 'eth_getTransactionReceipt', params: [hash] });
      if (receipt) return receipt;
      failures = 0;
    } catch {
      if (++failures >= 10) return null;
    }
    await sleep(RECEIPT_MS);
  }
  return null;
}

/** A failed transaction's revert data: the same call again, at the block it failed in. */
async function replay(provider, tx, receipt) {
  try {
    const { from, to, data, value } = tx;
    await provider.request({ method: 'eth_call', params: [{ from, to, data, value }, receipt.blockNumber] });
    return null;
  } catch (err) {
    return revertData(err);
  }
}

/** Poll the job every 2 s until it is minted and its token named. */
function pollJob(run) {
  if (run.polling) return;
  run.polling = true;
  const tick = async () => {
    if (run !== current) return;
    try {
      const r = await fetch(`/api/v1/jobs/${run.id}`, { cache: 'no-store' });
      const job = r.ok ? await r.json() : null;
      if (run !== current) return;
      if (job) {
        const done = job.state === JobState.MINTED && job.token?.token_uri;
        if (done) run.polling = false;
        run.onJob(job);
        if (done) return;
      }
    } catch { /* offline: the next tick */ }
    if (++run.polls >= MAX_POLLS) { run.polling = false; return; }
    run.timer = setTimeout(tick, POLL_MS);
  };
  tick();
}

/** The minted token: id, owner, transaction, and its named metadata once Lantern has pinned it. */
function showToken(token) {
  const id = token.token_id;
  const rows = [
    ['Token', h('strong', {}, `#${id}`), token.token_uri ? ` · Gen1 #${id}` : null],
    ['Owner', h('code', {}, token.owner), copyButton(token.owner, 'owner address')],
    ['Transaction', h('code', {}, token.tx_hash), copyButton(token.tx_hash, 'transaction hash')],
    ['Block', String(token.block_number)],
    ['Contract', h('code', {}, token.contract)],
  ];
  if (token.token_uri) {
    rows.push(['Token URI', h('code', {}, token.token_uri), copyButton(token.token_uri, 'token URI')]);
    rows.push(['Metadata', h('a', { href: `/ipfs/${token.metadata_cid}` }, `Gen1 #${id} metadata`)]);
  } else {
    rows.push(['Metadata', h('span', { class: 'muted' }, 'Lantern is naming the token…')]);
  }
  $('token').replaceChildren(...rows.filter(([, v]) => v != null).map(([k, ...v]) => h('div', {}, h('dt', {}, k), h('dd', {}, ...v))));
  $('token').hidden = false;
  if (current?.minted == null) $('mint-status').textContent = '';
}
