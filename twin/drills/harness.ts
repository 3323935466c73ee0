// The drill harness: runs open-loop load inside the twin's namespace against
// the load balancer, performs the drill's fault at a given second, waits for
// the journals to be replayed, checks the counter through the database's
// stable address and writes a report. Every drill (roll, kill, zone, patch,
// failover, partition) is a DrillSpec run by `runDrill`; goals are data and
// the report gives each one's verdict.

import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { GATEWAY_IP, TWIN_NETNS, nsArgv } from '../topology.js';
import { measure, type DrillMeasures } from './analysis.js';
import { machineInfo } from './machine.js';
import { evaluateGoals, type Facts, type Goal, type GoalResult } from './goals.js';
import { writeReport } from './report.js';
import { is2xx, readSamples } from './sample.js';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const RESULTS_DIR = path.join(ROOT, 'twin', 'results');
/** The load balancer's HTTPS frontend inside ctwin (self-signed certificate). */
export const LB_URL = `https://${GATEWAY_IP}/`;

export interface DrillContext {
  /** Adds facts to the report; goals may read them. */
  fact(name: string, value: number | string | boolean): void;
  log(message: string): void;
  /** When the load started (ms since the epoch, first intended send). */
  readonly loadStartedAt: number;
}

export interface DrillSpec {
  readonly name: string;
  readonly description: string;
  readonly goals: readonly Goal[];
  /** Defaults; the CLI may override them. */
  readonly rate: number;
  readonly durationS: number;
  readonly faultAtS: number;
  /** Runs before the load starts (e.g. check the twin is up). */
  setup?(ctx: DrillContext): Promise<void>;
  /** The fault; resolves when it is over (healed, or a kill delivered and taken over). */
  fault(ctx: DrillContext): Promise<void>;
  /**
   * Runs after the fault, alongside the rest of the load (e.g. wait for a
   * killed node to rejoin); awaited before the counter check.
   */
  settle?(ctx: DrillContext): Promise<void>;
  /** Always runs, also after a failure: undo anything the fault left. */
  cleanup?(ctx: DrillContext): Promise<void>;
}

export interface RunOptions {
  readonly rate?: number;
  readonly durationS?: number;
  readonly faultAtS?: number;
  /**
   * The load's first seconds, reported as their own phase and left out of
   * `before` (a fresh generator and new TLS connections; the benchmark
   * discards its warm-up the same way). Default 2, at most the fault time.
   */
  readonly warmupS?: number;
  readonly url?: string;
  /** argv prefix of a generator taking --url --rate --duration --insecure --samples. */
  readonly generator?: readonly string[];
  /** Reads the counter's value through the database's stable address; omit to skip the counter check. */
  readonly readCounter?: () => Promise<number>;
  /** Longest wait after the load for the database to hold every 2xx (journal replay). */
  readonly settleTimeoutMs?: number;
  readonly resultsDir?: string;
  readonly quiet?: boolean;
}

export interface DrillReport {
  readonly drill: string;
  readonly description: string;
  readonly startedAt: string;
  readonly machine: Record<string, unknown>;
  readonly parameters: Record<string, unknown>;
  readonly window: { faultAtMs: number; faultDurationMs: number };
  readonly measures: DrillMeasures;
  readonly facts: Facts;
  readonly goals: readonly GoalResult[];
  readonly pass: boolean;
  readonly files: { json: string; markdown: string; samples: string };
}

/** The benchmark's open-loop generator (bench/open-loop.ts), the one the benchmarks use. */
export function defaultGenerator(): string[] {
  return [process.execPath, '--import', 'tsx', path.join(ROOT, 'bench', 'open-loop.ts')];
}

/** First intended send time in a streaming samples file, once it appears (bounded wait). */
async function firstIntendedAt(file: string, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(file) && statSync(file).size > 0) {
      const line = readFileSync(file, 'utf8').split('\n')[0] ?? '';
      try {
        return (JSON.parse(line) as { intendedAt: number }).intendedAt;
      } catch {
        // partial first line; read again
      }
    }
    await sleep(50);
  }
  return undefined;
}

/**
 * The counter once it has stopped moving: requests still queued from an
 * earlier run (answered after their client gave up) would otherwise count
 * as this run's extra increments. Bounded; the report says if it never settled.
 */
async function quietCounter(read: () => Promise<number>, facts: Record<string, number | string | boolean>) {
  const started = Date.now();
  let last = await read();
  for (;;) {
    await sleep(2000);
    const now = await read();
    if (now === last) {
      facts.counterQuietAfterMs = Date.now() - started - 2000;
      return now;
    }
    if (Date.now() - started > 180_000) {
      facts.counterNotQuiet = `still moving after 180 s (${last} -> ${now})`;
      return now;
    }
    last = now;
  }
}

export async function runDrill(spec: DrillSpec, options: RunOptions = {}): Promise<DrillReport> {
  const rate = options.rate ?? spec.rate;
  const durationS = options.durationS ?? spec.durationS;
  const faultAtS = options.faultAtS ?? spec.faultAtS;
  const warmupS = Math.min(options.warmupS ?? 2, faultAtS);
  if (!(rate > 0 && durationS > 0 && faultAtS >= 0 && faultAtS < durationS)) {
    throw new Error(`drill ${spec.name}: need rate > 0, duration > 0 and 0 <= fault-at < duration`);
  }
  const resultsDir = options.resultsDir ?? RESULTS_DIR;
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const samplesFile = path.join(resultsDir, `${spec.name}-${stamp}.samples.ndjson`);
  const facts: Record<string, number | string | boolean> = {};
  const log = (message: string) => {
    if (!options.quiet) console.log(`[${spec.name} ${new Date().toISOString().slice(11, 23)}] ${message}`);
  };
  let loadStartedAt = Date.now();
  const ctx: DrillContext = {
    fact: (name, value) => void (facts[name] = value),
    log,
    get loadStartedAt() {
      return loadStartedAt;
    },
  };

  const generator = options.generator ?? defaultGenerator();
  const url = options.url ?? LB_URL;
  let child: ReturnType<typeof spawn> | undefined;
  let faultStartedAt = 0;
  let faultEndedAt = 0;
  try {
    await spec.setup?.(ctx);
    const counterBefore = options.readCounter ? await quietCounter(options.readCounter, facts) : undefined;
    const argv = nsArgv(TWIN_NETNS, generator[0] ?? 'node', [
      ...generator.slice(1),
      ...['--url', url, '--rate', String(rate), '--duration', String(durationS), '--insecure'],
      ...['--samples', samplesFile],
    ]);
    log(`load ${rate}/s for ${durationS} s against ${url}; fault at ${faultAtS} s`);
    // The generator's own summary goes to a file beside the samples.
    const generatorLog = openSync(samplesFile.replace(/\.samples\.ndjson$/, '.generator.log'), 'a');
    child = spawn(argv[0] ?? 'nsenter', argv.slice(1), {
      cwd: ROOT,
      stdio: ['ignore', generatorLog, 'inherit'],
      detached: true,
    });
    closeSync(generatorLog);
    const exited = new Promise<number | null>((resolve) => child?.on('close', resolve));
    loadStartedAt = (await firstIntendedAt(samplesFile, 20_000)) ?? Date.now();
    await sleep(Math.max(0, loadStartedAt + faultAtS * 1000 - Date.now()));
    faultStartedAt = Date.now();
    log('fault');
    await spec.fault(ctx);
    faultEndedAt = Date.now();
    log(`fault over after ${faultEndedAt - faultStartedAt} ms`);
    const settled = spec.settle?.(ctx).catch((err: unknown) => {
      facts.settleError = (err as Error).message;
    });
    const code = await Promise.race([exited, sleep((durationS + 60) * 1000).then(() => 'timeout' as const)]);
    if (code !== 0) throw new Error(`load generator ended with ${code}`);
    child = undefined;
    await settled;
    const loadEndedAt = Date.now();

    const samples = readSamples(samplesFile);
    const ok2xx = samples.filter(is2xx).length;
    let counter: Parameters<typeof measure>[3];
    if (options.readCounter && counterBefore !== undefined) {
      // Replay of degraded-mode journals may still be running: wait (bounded)
      // for the database to reach the 2xx count, then report what it holds.
      const deadline = loadEndedAt + (options.settleTimeoutMs ?? 60_000);
      let after = await options.readCounter();
      while (after - counterBefore < ok2xx && Date.now() < deadline) {
        await sleep(250);
        after = await options.readCounter();
      }
      await sleep(1000); // a late replay would show up as extra increments
      after = await options.readCounter();
      counter = {
        before: counterBefore,
        after,
        databaseIncrease: after - counterBefore,
        settleMs: Date.now() - loadEndedAt - 1000,
      };
    }
    const measures = measure(
      samples,
      Math.round(rate * durationS),
      { warmupEndsAt: loadStartedAt + warmupS * 1000, faultStartedAt, faultEndedAt },
      counter,
    );
    const goals = evaluateGoals(spec.goals, measures, facts);
    const report = {
      drill: spec.name,
      description: spec.description,
      startedAt: new Date(loadStartedAt).toISOString(),
      machine: machineInfo(),
      parameters: {
        rate,
        durationS,
        faultAtS,
        warmupS,
        url,
        generator: generator.map((a) => path.basename(a)).join(' '),
      },
      window: { faultAtMs: faultStartedAt - loadStartedAt, faultDurationMs: faultEndedAt - faultStartedAt },
      measures,
      facts,
      goals,
      pass: goals.every((g) => g.pass),
    };
    const files = writeReport(resultsDir, `${spec.name}-${stamp}`, report);
    return { ...report, files: { ...files, samples: samplesFile } };
  } finally {
    if (child?.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await spec.cleanup?.(ctx);
  }
}
