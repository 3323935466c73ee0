// The twin's database tier ("Cloud SQL for PostgreSQL, REGIONAL"): what the
// rest of the twin and the drills use. See docs/twin.md for the mapping to
// Cloud SQL and the failover timing.

export { startDatabase, stopDatabase, startNode, type StartOptions } from './lifecycle.js';
export { databaseStatus, waitForStatus, type DatabaseStatus, type MemberStatus } from './status.js';
export { killPrimary, restartNode, type Kill, type KillScope } from './faults.js';
export { partition, isPartitioned } from './partition.js';
export {
  readCounter,
  psql,
  databaseConnection,
  measureCommitLatency,
  measureLatency,
  measureRoundTrip,
  type Connection,
  type CommitLatency,
  type Latency,
} from './sql.js';
export { loadState, type DatabaseState } from './state.js';
export { SQL_ADDRESS, SQL_PORT, APP_DATABASE, APP_ROLE, DEFAULT_RTT_MS, DEFAULT_COMMIT_DELAY_MS } from './settings.js';
