// `npm run drill -- <name> [options]`: dispatches to twin/drills/<name>.ts,
// which exports `drill` (a DrillSpec), runs it under load and exits non-zero
// when a goal fails. The twin must be up (`npm run twin:up`).
// Options: --rate R --duration S --fault-at S --warmup S (override the drill's
// defaults; the warm-up, 2 s by default, is reported apart from `before`),
// --generator "argv..." (any command writing the Sample NDJSON),
// --no-counter (skip the database counter check), --bare (database drills
// without the fleet: one service process on its own host, no load balancer),
// --url URL (any target inside ctwin).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { runDrill, type DrillSpec, type RunOptions } from './harness.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rate: { type: 'string' },
    duration: { type: 'string' },
    'fault-at': { type: 'string' },
    warmup: { type: 'string' },
    generator: { type: 'string' },
    'no-counter': { type: 'boolean', default: false },
    bare: { type: 'boolean', default: false },
    url: { type: 'string' },
  },
});

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

const name = positionals[0];
if (name === undefined || !/^[a-z][a-z0-9-]*$/.test(name))
  fail('usage: npm run drill -- <name> [--rate R] [--duration S] [--fault-at S] [--warmup S]');
const file = path.join(import.meta.dirname, `${name}.ts`);
if (!existsSync(file)) fail(`no drill named "${name}" (twin/drills/${name}.ts)`);
const module = (await import(pathToFileURL(file).href)) as { drill?: DrillSpec };
if (module.drill === undefined) fail(`twin/drills/${name}.ts exports no drill`);

const number = (value: string | undefined, flag: string): number | undefined => {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) fail(`${flag} must be a non-negative number (got "${value}")`);
  return parsed;
};

const bare = args.bare ? await (await import('./bare-service.js')).startBareService() : undefined;
const options: RunOptions = {
  url: bare?.url ?? args.url,
  rate: number(args.rate, '--rate'),
  durationS: number(args.duration, '--duration'),
  faultAtS: number(args['fault-at'], '--fault-at'),
  warmupS: number(args.warmup, '--warmup'),
  generator: args.generator?.split(/\s+/).filter(Boolean),
  readCounter: args['no-counter'] ? undefined : (await import('../db/index.js')).readCounter,
};
const report = await runDrill(module.drill, options).finally(() => bare?.stop());
for (const goal of report.goals) console.log(`${goal.pass ? 'pass' : 'FAIL'}  ${goal.description}: ${goal.actual}`);
console.log(`report: ${path.relative(process.cwd(), report.files.markdown)}`);
process.exitCode = report.pass ? 0 : 1;
// The report is written; handles a drill leaves behind (pooled connections,
// a controller's timers) must not keep the command alive: one `zone` run sat
// for 7 minutes after its report until interrupted.
setTimeout(() => process.exit(), 1000).unref();
