// Picks the counter implementation from the configuration: the coalescing
// allocator, with degraded mode around it unless DEGRADED_MODE=off, or one of
// the benchmark baselines.

import type { Config } from '../config.js';
import type { Db } from '../db.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { CoalescingAllocator } from './allocator.js';
import { constantCounter, naiveCounter } from './baselines.js';
import { DegradedCounter, type Mode } from './degraded.js';
import { Journal } from './journal.js';
import type { Counter } from './types.js';

export interface BuiltCounter {
  readonly counter: Counter;
  /** Present when degraded mode is on. */
  readonly degraded?: DegradedCounter;
}

export interface CounterDeps {
  readonly config: Config;
  readonly db: Db;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly lastCommitted?: number;
  readonly onModeChange?: (mode: Mode, lastCommitted: number) => void;
}

export function maxReplayAgeMs(config: Config): number {
  // Leave an hour of margin between the oldest entry we replay and the
  // oldest ledger row the prune job keeps.
  return (config.ledgerRetentionHours - 1) * 3600_000;
}

export function buildCounter(deps: CounterDeps): BuiltCounter {
  const { config, db, log, metrics } = deps;
  switch (config.allocator) {
    case 'constant':
      return { counter: constantCounter() };
    case 'naive':
      return { counter: naiveCounter(db) };
    case 'coalescing':
      break;
  }
  if (!config.degradedMode) {
    const allocator = new CoalescingAllocator({
      db,
      log,
      maxBatch: config.maxBatch,
      deadlineMs: config.requestDeadlineMs,
      metrics: metrics.counter,
    });
    metrics.watchSpares(() => allocator.spareCount);
    return { counter: allocator };
  }
  const journal = new Journal({
    dir: config.journalDir,
    workerId: config.workerId,
    onSync: metrics.journalFsync,
    maxEntries: config.journalMaxEntries,
  });
  const degraded = new DegradedCounter({
    db,
    log,
    journal,
    maxBatch: config.maxBatch,
    deadlineMs: config.requestDeadlineMs,
    budgetMs: config.dbBudgetMs,
    probeIntervalMs: config.probeIntervalMs,
    maxReplayAgeMs: maxReplayAgeMs(config),
    lastCommitted: deps.lastCommitted,
    metrics: metrics.counter,
    onReplay: metrics.replayed,
    onQuarantine: metrics.quarantined,
    onModeChange: deps.onModeChange,
    replayChunk: config.journalReplayChunk,
  });
  metrics.watchSpares(() => degraded.spareCount);
  metrics.watchDegraded({
    mode: () => (degraded.mode === 'degraded' ? 1 : 0),
    journalPending: () => journal.pendingIncrements,
    replayLagSeconds: () => degraded.replayLagSeconds(),
  });
  return { counter: degraded, degraded };
}
