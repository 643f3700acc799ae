// What the page needs to read from the chain itself, without a library: ETH amounts in words,
// the Gen1 contract's custom errors in a revert's data, and the token id in a mint's receipt.
// Selectors and topics are keccak256 of the signatures (chain/artifacts/Gen1.json's ABI).

import { keccak256 } from './keccak.js';

/** EIP-1193's "the user rejected the request". */
export const USER_REJECTED = 4001;
/** EIP-3326's "the wallet does not know this chain" (wallet_switchEthereumChain). */
export const UNKNOWN_CHAIN = 4902;
/** A request of the same kind is already waiting in the wallet (MetaMask's -32002). */
export const PENDING_REQUEST = -32002;

const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
const hash = (signature) => hex(keccak256(new TextEncoder().encode(signature)));

/** The contract's custom errors the page explains, by 4-byte selector (hex, no 0x). */
const ERRORS = Object.fromEntries(
  [['WrongPrice', 2], ['SoldOut', 1], ['EmptyMetadataURI', 0]]
    .map(([name, words]) => [hash(`${name}(${Array(words).fill('uint256').join(',')})`).slice(0, 8), { name, words }]),
);
/** topics[0] of a Gen1Minted(address indexed to, uint256 indexed tokenId, string imageUrl) log. */
const MINTED_TOPIC = `0x${hash('Gen1Minted(address,uint256,string)')}`;

/** `wei` (a bigint or a decimal string) in ETH without trailing zeros: "0.001 ETH". */
export function formatEth(wei) {
  const digits = BigInt(wei).toString().padStart(19, '0');
  const whole = digits.slice(0, -18);
  const fraction = digits.slice(-18).replace(/0+$/, '');
  return `${whole}${fraction ? `.${fraction}` : ''} ETH`;
}

/** True when a chain id (hex string, decimal string or number) is `id`. */
export function sameChain(value, id) {
  try { return BigInt(value) === BigInt(id); } catch { return false; }
}

/**
 * The revert data a wallet's error carries, if any: wallets nest it differently (`data`,
 * `data.data`, `data.originalError.data`, `error.data`, `cause`…), so look a few levels down
 * for a 0x string of at least a selector.
 */
export function revertData(err, depth = 0) {
  if (typeof err === 'string') return /^0x[0-9a-fA-F]{8}/.test(err) ? err : null;
  if (!err || typeof err !== 'object' || depth > 4) return null;
  for (const key of ['data', 'originalError', 'error', 'cause']) {
    const found = revertData(err[key], depth + 1);
    if (found) return found;
  }
  return null;
}

/** `{name, args}` (args as bigints) for one of the contract's errors the page knows, else null. */
export function decodeRevert(data) {
  if (typeof data !== 'string') return null;
  const body = data.replace(/^0x/, '');
  const error = ERRORS[body.slice(0, 8).toLowerCase()];
  if (!error || body.length < 8 + 64 * error.words) return null;
  const args = Array.from({ length: error.words }, (_, i) => BigInt(`0x${body.slice(8 + 64 * i, 8 + 64 * (i + 1))}`));
  return { name: error.name, args };
}

/** The token id (a decimal string) of the Gen1Minted log `contract` emitted in a receipt, else null. */
export function mintedTokenId(receipt, contract) {
  for (const log of receipt?.logs || []) {
    const topics = log.topics || [];
    if (String(topics[0]).toLowerCase() !== MINTED_TOPIC || topics.length < 3) continue;
    if (contract && String(log.address).toLowerCase() !== contract.toLowerCase()) continue;
    return BigInt(topics[2]).toString();
  }
  return null;
}
