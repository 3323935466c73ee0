// Batch ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random
// bits. Time-ordered ids land at the right edge of the ledger's primary-key
// index, so the index stays hot in cache however large the ledger grows,
// where random UUIDv4s would touch a random leaf page on every insert.
//
// The random bits come from randomUUID(), which Node serves from a cache it
// refills 128 ids at a time; randomBytes(16) asked the OS for every id,
// which showed in a worker's CPU profile at low rates (about one batch per
// request).

import { randomUUID } from 'node:crypto';

export function batchId(now = Date.now()): string {
  // v4 layout: xxxxxxxx-xxxx-4RRR-VRRR-RRRRRRRRRRRR (R random, V = variant 1 + 2 random bits).
  const random = randomUUID();
  const time = now.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15, 18)}-${random.slice(19)}`;
}
