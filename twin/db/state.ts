// What a running database tier was started with (passwords, delays, TLS),
// kept in the state directory so another process (a drill, `twin:status`,
// `twin:down`) can reach and stop it.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Credentials } from './config-files.js';
import { credentialsFile } from './settings.js';

export interface DatabaseState {
  readonly credentials: Credentials;
  readonly tls: boolean;
  /** Cross-zone round trip added by the relay on the fleet->database path, ms (0: no relay). */
  readonly rttMs: number;
  readonly commitDelayMs: number;
  readonly etcdMembers: 1 | 3;
  /** startDatabase created the twin's network itself (tests), so stopDatabase removes it. */
  readonly ownsNetwork: boolean;
}

export function saveState(state: DatabaseState): void {
  writeFileSync(credentialsFile(), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

export function loadState(): DatabaseState | undefined {
  if (!existsSync(credentialsFile())) return undefined;
  return JSON.parse(readFileSync(credentialsFile(), 'utf8')) as DatabaseState;
}

export function requireState(): DatabaseState {
  const state = loadState();
  if (state === undefined) throw new Error('the twin database is not running (no state; start it with startDatabase)');
  return state;
}
