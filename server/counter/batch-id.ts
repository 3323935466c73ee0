// Batch ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random
// bits. Time-ordered ids land at the right edge of the ledger's primary-key
// index, so the index stays hot in cache however large the ledger grows,
// where random UUIDv4s would touch a random leaf page on every insert.

import { randomBytes } from 'node:crypto';

export function batchId(now = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
