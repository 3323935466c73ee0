// Small state files beside the journal: the schema version this host has
// seen migrated, and the last counter value a worker saw committed. They let
// a worker that restarts while the database is unreachable serve in degraded
// mode at once (the schema is known to exist) with provisional values that
// continue from where the host was, instead of refusing every request.
// Each worker writes its own file (`state-w<worker>.json`), so workers never
// race on one file; readers take the maximum over all of them. A write is a
// unique temporary file, fsynced, renamed over the old one, and the rename
// made durable by an fsync of the directory. A missing or unreadable file
// just means "nothing known".

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface HostState {
  readonly schemaVersion: number;
  readonly lastCommitted: number;
}

const STATE_FILE = /^state(-w\d+)?\.json$/;

async function readOne(file: string): Promise<HostState | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<HostState>;
    if (Number.isSafeInteger(parsed.schemaVersion) && Number.isSafeInteger(parsed.lastCommitted)) {
      return { schemaVersion: parsed.schemaVersion as number, lastCommitted: parsed.lastCommitted as number };
    }
  } catch {
    // Absent or unreadable: nothing known.
  }
  return undefined;
}

/** What this host knows: the highest schema version and last value any worker recorded. */
export async function readState(dir: string): Promise<HostState | undefined> {
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((name) => STATE_FILE.test(name));
  } catch {
    return undefined;
  }
  let known: HostState | undefined;
  for (const name of names) {
    const state = await readOne(path.join(dir, name));
    if (state === undefined) continue;
    known = {
      schemaVersion: Math.max(state.schemaVersion, known?.schemaVersion ?? 0),
      lastCommitted: Math.max(state.lastCommitted, known?.lastCommitted ?? 0),
    };
  }
  return known;
}

/** Writes of this process, one at a time, so a slower write never lands over a newer one. */
let writes: Promise<void> = Promise.resolve();

export function writeState(dir: string, workerId: number, state: HostState): Promise<void> {
  const write = writes.then(() => writeNow(dir, workerId, state));
  writes = write.catch(() => undefined);
  return write;
}

async function writeNow(dir: string, workerId: number, state: HostState): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o750 });
  const file = path.join(dir, `state-w${workerId}.json`);
  const previous = await readOne(file);
  const merged: HostState = {
    schemaVersion: Math.max(state.schemaVersion, previous?.schemaVersion ?? 0),
    lastCommitted: Math.max(state.lastCommitted, previous?.lastCommitted ?? 0),
  };
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await fs.open(temporary, 'w', 0o640);
  try {
    await handle.writeFile(JSON.stringify(merged));
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fs.rename(temporary, file);
  const directory = await fs.open(dir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
