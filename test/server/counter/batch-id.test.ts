// Batch ids: valid UUIDv7, ordered by time, unique.

import test from 'ava';
import { batchId } from '../../../server/counter/batch-id.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('batchId is a version-7, variant-1 UUID carrying the given millisecond', (t) => {
  const id = batchId(0x0123_4567_89ab);
  t.regex(id, UUID_V7);
  t.is(id.slice(0, 13).replace('-', ''), '0123456789ab');
});

test('batchIds from later milliseconds sort after earlier ones, and 10,000 ids are distinct', (t) => {
  t.true(batchId(1_000) < batchId(1_001));
  const ids = Array.from({ length: 10_000 }, () => batchId());
  t.is(new Set(ids).size, ids.length);
  t.true(ids.every((id) => UUID_V7.test(id)));
});

test('batchIds from one millisecond differ in every random position (74 random bits)', (t) => {
  const ids = Array.from({ length: 2_000 }, () => batchId(0x0123_4567_89ab));
  // rand_a: positions 15-17; the variant nibble at 19 carries 2 random bits; rand_b: 20-22 and 24-35.
  const positions = [15, 16, 17, 19, 20, 21, 22, ...Array.from({ length: 12 }, (_, i) => 24 + i)];
  for (const p of positions) {
    const seen = new Set(ids.map((id) => id[p]));
    t.true(seen.size >= (p === 19 ? 4 : 12), `position ${p}: ${[...seen].join('')}`);
  }
  t.true(ids.every((id) => id.startsWith('01234567-89ab-7')));
});
