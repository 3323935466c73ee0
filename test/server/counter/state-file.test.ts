// The per-host state files: each worker writes its own, so concurrent
// writers never lose a newer value to an older one, readers take the maximum
// over all workers, no temporary file is left behind, and an unreadable file
// means "nothing known" rather than an error.

import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { readState, writeState } from '../../../server/counter/state-file.js';
import { tempDir } from '../../helpers/temp.js';

test('state file: two workers writing at once both survive, and the reader sees the maximum', async (t) => {
  const dir = tempDir(t);
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      writeState(dir, i % 2, { schemaVersion: 2, lastCommitted: i % 2 === 0 ? 100 + i : 500 + i }),
    ),
  );
  t.deepEqual(await readState(dir), { schemaVersion: 2, lastCommitted: 519 });
  t.deepEqual(readdirSync(dir).sort(), ['state-w0.json', 'state-w1.json'], 'no temporary file left behind');
});

test('state file: a later, lower value never replaces a higher one', async (t) => {
  const dir = tempDir(t);
  await writeState(dir, 0, { schemaVersion: 3, lastCommitted: 40 });
  await writeState(dir, 0, { schemaVersion: 0, lastCommitted: 7 });
  t.deepEqual(await readState(dir), { schemaVersion: 3, lastCommitted: 40 });
});

test('state file: missing or unreadable means nothing known; a legacy state.json still counts', async (t) => {
  const dir = tempDir(t);
  t.is(await readState(path.join(dir, 'absent')), undefined);
  writeFileSync(path.join(dir, 'state-w3.json'), '{"schemaVersion":');
  t.is(await readState(dir), undefined);
  writeFileSync(path.join(dir, 'state.json'), '{"schemaVersion":1,"lastCommitted":9}');
  t.deepEqual(await readState(dir), { schemaVersion: 1, lastCommitted: 9 });
});
