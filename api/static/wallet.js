// Wallet addresses: format and EIP-55 checksum, checked in the page before a job is sent, and
// the wallet field (remembered across visits; a sample address until the user gives theirs).

import { $ } from './dom.js';
import { setError } from './errors.js';
import { keccak256 } from './keccak.js';
import { store } from './state.js';

const SAMPLE_WALLET = '0x52908400098527886E0F7030069857D2E4169EE7'; // EIP-55's own example

/** The EIP-55 form of a 0x address (any case). */
export function toChecksumAddress(address) {
  const hex = address.slice(2).toLowerCase();
  const hash = keccak256(new TextEncoder().encode(hex));
  let out = '0x';
  for (let i = 0; i < 40; i++) {
    const nibble = (hash[i >> 1] >> (i % 2 ? 0 : 4)) & 0xf;
    out += nibble >= 8 ? hex[i].toUpperCase() : hex[i];
  }
  return out;
}

/** null when fine, else the reason (the server's words). All-lower/upper is accepted and checksummed. */
export function walletProblem(value) {
  if (!value) return 'Enter the wallet address that receives the token';
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) return 'must be a 0x address of 40 hex digits';
  const body = value.slice(2);
  if (body !== body.toLowerCase() && body !== body.toUpperCase() && toChecksumAddress(value) !== value) {
    return 'fails its EIP-55 checksum (mixed case): check for a typo';
  }
  return null;
}

/** The address as typed (trimmed). */
export function walletValue() {
  return $('wallet').value.trim();
}

/** Check the field, say what is wrong or how it will be sent, remember it; the problem or null. */
export function checkWallet() {
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

/** Fill the field with the remembered address (else the sample) and check it as it is typed. */
export function initWallet() {
  const wallet = store.get('wallet', '');
  $('wallet').value = wallet || SAMPLE_WALLET;
  $('sample-note').hidden = Boolean(wallet && wallet !== SAMPLE_WALLET);
  $('wallet').addEventListener('input', () => { $('sample-note').hidden = true; checkWallet(); });
  checkWallet();
}
