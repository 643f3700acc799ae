// Keccak-256 (Ethereum's, not SHA3-256: padding byte 0x01) after the Keccak team's compact
// reference; BigInt lanes are plenty fast for one 20-byte address (wallet.js's checksum).

const MASK = (1n << 64n) - 1n;
const rol = (a, n) => (n === 0 ? a : ((a << BigInt(n)) | (a >> BigInt(64 - n))) & MASK);

function permute(lanes) {
  let R = 1;
  for (let round = 0; round < 24; round++) {
    // θ
    const C = [0, 1, 2, 3, 4].map((x) => lanes[x][0] ^ lanes[x][1] ^ lanes[x][2] ^ lanes[x][3] ^ lanes[x][4]);
    for (let x = 0; x < 5; x++) {
      const D = C[(x + 4) % 5] ^ rol(C[(x + 1) % 5], 1);
      for (let y = 0; y < 5; y++) lanes[x][y] ^= D;
    }
    // ρ and π
    let x = 1, y = 0, current = lanes[x][y];
    for (let t = 0; t < 24; t++) {
      [x, y] = [y, (2 * x + 3 * y) % 5];
      [current, lanes[x][y]] = [lanes[x][y], rol(current, (((t + 1) * (t + 2)) / 2) % 64)];
    }
    // χ
    for (let yy = 0; yy < 5; yy++) {
      const T = [0, 1, 2, 3, 4].map((xx) => lanes[xx][yy]);
      for (let xx = 0; xx < 5; xx++) lanes[xx][yy] = T[xx] ^ ((T[(xx + 1) % 5] ^ MASK) & T[(xx + 2) % 5]);
    }
    // ι
    for (let j = 0; j < 7; j++) {
      R = ((R << 1) ^ ((R >> 7) * 0x71)) % 256;
      if (R & 2) lanes[0][0] ^= 1n << BigInt((1 << j) - 1);
    }
  }
}

/** Keccak-256 of bytes → 32 bytes. */
export function keccak256(bytes) {
  const rate = 136;
  const padded = new Uint8Array(Math.ceil((bytes.length + 1) / rate) * rate);
  padded.set(bytes);
  padded[bytes.length] ^= 0x01;
  padded[padded.length - 1] ^= 0x80;
  const lanes = [0, 1, 2, 3, 4].map(() => [0n, 0n, 0n, 0n, 0n]);
  for (let off = 0; off < padded.length; off += rate) {
    for (let i = 0; i < rate / 8; i++) {
      let lane = 0n;
      for (let b = 7; b >= 0; b--) lane = (lane << 8n) | BigInt(padded[off + i * 8 + b]);
      lanes[i % 5][Math.floor(i / 5)] ^= lane;
    }
    permute(lanes);
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 4; i++) {
    let lane = lanes[i % 5][Math.floor(i / 5)];
    for (let b = 0; b < 8; b++, lane >>= 8n) out[i * 8 + b] = Number(lane & 0xffn);
  }
  return out;
}
