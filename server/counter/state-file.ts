// A small state file beside the journal: the schema version this host has
// seen migrated, and the last counter value a worker saw committed. It lets a
// worker that restarts while the database is unreachable serve in degraded
// mode at once (the schema is known to exist) with provisional values that
// continue from where the fleet was, instead of refusing every request.
// Written atomically (temporary file + rename); a missing or unreadable file
// just means "nothing known".

import fs from 'node:fs/promises';
import path from 'node:path';

export interface HostState {
  readonly schemaVersion: number;
  readonly lastCommitted: number;
}

const FILE = 'state.json';

export async function readState(dir: string): Promise<HostState | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(path.join(dir, FILE), 'utf8')) as Partial<HostState>;
    if (Number.isSafeInteger(parsed.schemaVersion) && Number.isSafeInteger(parsed.lastCommitted)) {
      return { schemaVersion: parsed.schemaVersion as number, lastCommitted: parsed.lastCommitted as number };
    }
  } catch {
    // Absent or unreadable: nothing known.
  }
  return undefined;
}

export async function writeState(dir: string, state: HostState): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o750 });
  const previous = await readState(dir);
  const merged: HostState = {
    schemaVersion: Math.max(state.schemaVersion, previous?.schemaVersion ?? 0),
    lastCommitted: Math.max(state.lastCommitted, previous?.lastCommitted ?? 0),
  };
  const temporary = path.join(dir, `${FILE}.${process.pid}.tmp`);
  await fs.writeFile(temporary, JSON.stringify(merged));
  await fs.rename(temporary, path.join(dir, FILE));
}
