// The twin end to end at CI size: `up` with one instance per zone (image
// baked or cached, Patroni pair, HAProxy, metadata server, MIG), the roll
// drill (to a re-stamped copy of the image) and the kill drill at a rate this
// machine carries, then `down`, which must leave nothing behind, and the root
// namespace must never have had a route into the twin. Assertions are on the
// drills' goals, never on absolute latencies (the p99 goal is reported, not
// asserted). Needs root and the packages of .ci/run (npm run test:twin).

import fs from 'node:fs/promises';
import test, { type ExecutionContext } from 'ava';
import { fleetDown, fleetUp } from '../../../twin/twin-lifecycle.js';
import { assertIsolated, listNetns } from '../../../twin/topology.js';
import { runDrill, type DrillReport, type DrillSpec } from '../../../twin/drills/harness.js';
import { drill as roll } from '../../../twin/drills/roll.js';
import { drill as kill } from '../../../twin/drills/kill.js';
import { readCounter } from '../../../twin/db/index.js';
import { cpuShares, listRecords, IN_SERVICE_CPU_SHARES } from '../../../twin/instance.js';

const RATE = Number(process.env.TWIN_CI_RATE ?? 50);
// Load long enough to hold the fault and an "after" window: the roll and its
// audit end 50-100 s after the fault at 10 s (42.7 s and 4 s on a 2-vCPU
// Intel Xeon, 56 s and 30 s on a 2-vCPU AMD EPYC), the killed VM is back in
// rotation 13-21 s after its kill (docs/twin.md). The full-length drills are
// `npm run drill`.
const ROLL_LOAD_S = 120;
const KILL_LOAD_S = 60;
const log = (line: string) => console.log(`[twin-test ${new Date().toISOString().slice(11, 19)}] ${line}`);
let up = false;

function goal(report: DrillReport, id: string) {
  const g = report.goals.find((x) => x.id === id);
  if (g === undefined) throw new Error(`no goal ${id} in ${report.drill}`);
  return g;
}

/** A drill at the suite's rate with the fault at 10 s; its goals and facts go to the test log. */
async function runLogged(t: ExecutionContext, spec: DrillSpec, durationS: number): Promise<DrillReport> {
  const report = await runDrill(spec, { rate: RATE, durationS, faultAtS: 10, readCounter, quiet: false });
  t.log(`${spec.name}: ${report.goals.map((g) => `${g.id} ${g.pass ? 'pass' : 'FAIL'} (${g.actual})`).join('; ')}`);
  t.log(`facts: ${JSON.stringify(report.facts)}; report ${report.files.markdown}`);
  return report;
}

test.before(async () => {
  process.env.TWIN_ROLL_DERIVE = '1';
  const summary = await fleetUp({ size: 3, version: 'twin-1', delay: true, log });
  log(`up in ${summary.seconds} s`);
  up = true;
});

test.after.always('down leaves no process, namespace, mount or interface', async (t) => {
  const left = await fleetDown(log);
  t.deepEqual(left, []);
  t.deepEqual(
    (await listNetns()).filter((n) => n.startsWith('ctwin')),
    [],
  );
});

test.serial(
  "up: one instance per zone, each with a VM's CPU share once healthy, and no route from the root namespace into the twin",
  async (t) => {
    t.true(up);
    await t.notThrowsAsync(assertIsolated());
    const records = await listRecords();
    t.deepEqual(records.map((r) => r.zone).sort(), ['a', 'b', 'c']);
    for (const r of records) t.is(await cpuShares(r.name), IN_SERVICE_CPU_SHARES, `${r.name}'s cpu.shares`);
  },
);

test.serial(
  "up: each instance's systemd has a cgroup tree of its own in every hierarchy it manages (no two VMs share a unit's cgroup)",
  async (t) => {
    const records = await listRecords();
    t.is(records.length, 3);
    for (const r of records) {
      // From the host: "0::/ctwin/vm-a-1/payload/init.scope" (cgroup2) and "N:name=systemd:/ctwin/vm-a-1/...".
      const lines = (await fs.readFile(`/proc/${String(r.leaderPid)}/cgroup`, 'utf8')).trim().split('\n');
      const managed = lines.filter((line) => line.startsWith('0::') || /^\d+:name=systemd:/.test(line));
      t.true(managed.length > 0, `${r.name}: ${lines.join(' | ')}`);
      for (const line of managed) t.true(line.split(':')[2]?.startsWith(`/ctwin/${r.name}/`), `${r.name}: ${line}`);
    }
  },
);

test.serial(
  'roll: every instance replaced under load with 0 failed requests; the audit sees only the new image',
  async (t) => {
    const report = await runLogged(t, roll, ROLL_LOAD_S);
    t.true(goal(report, 'failures').pass, goal(report, 'failures').actual);
    t.true(goal(report, 'audit-new-image').pass, goal(report, 'audit-new-image').actual);
    t.is(report.measures.counter?.lost, 0);
    t.is(report.measures.counter?.extra, 0);
  },
);

test.serial(
  'kill: a crashed instance costs at most the requests in flight on it or sent to it before its ejection; ejected and autohealed',
  async (t) => {
    const report = await runLogged(t, kill, KILL_LOAD_S);
    for (const id of ['failures', 'ejected', 'back'])
      t.true(goal(report, id).pass, `${id}: ${goal(report, id).actual}`);
    t.is(report.measures.counter?.lost, 0);
  },
);
