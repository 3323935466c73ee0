// Templates whose output the local bake cannot exercise on its own: the Ops
// Agent configuration (GCP only, skipped by the local bake) and the ExecStop
// journal drain helper, run here against the app's real journal parser.

import test from 'ava';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ansibleDir, describe, readYaml, repoDir, run, runOk } from '../helpers/image-exec.js';

async function render(role: string, template: string, vars: Record<string, unknown>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'counter-api-template-'));
  const dest = path.join(dir, path.basename(template, '.j2'));
  const args = [
    'localhost',
    '-i',
    'localhost,',
    '-c',
    'local',
    '-m',
    'ansible.builtin.template',
    '-a',
    `src=${path.join(ansibleDir, 'roles', role, 'templates', template)} dest=${dest} mode=0755`,
    '-e',
    `@${path.join(ansibleDir, 'roles', role, 'defaults', 'main.yml')}`,
    '-e',
    JSON.stringify(vars),
  ];
  const result = await run('ansible', args, {
    env: { ...process.env, ANSIBLE_CONFIG: path.join(ansibleDir, 'ansible.cfg') },
    timeoutMs: 60_000,
  });
  if (result.code !== 0) throw new Error(describe(result));
  return dest;
}

interface OpsAgentConfig {
  readonly logging: {
    readonly receivers: Readonly<Record<string, { readonly type: string }>>;
    readonly processors: Readonly<
      Record<string, { readonly type: string; readonly field?: string; readonly match_any?: readonly string[] }>
    >;
    readonly service: {
      readonly pipelines: Readonly<
        Record<string, { readonly receivers: readonly string[]; readonly processors?: readonly string[] }>
      >;
    };
  };
  readonly metrics: {
    readonly receivers: Readonly<
      Record<
        string,
        {
          readonly type: string;
          readonly config: {
            readonly scrape_configs: readonly {
              readonly metrics_path: string;
              readonly static_configs: readonly { readonly targets: readonly string[] }[];
            }[];
          };
        }
      >
    >;
    readonly service: { readonly pipelines: Readonly<Record<string, { readonly receivers: readonly string[] }>> };
  };
}

test('ops_agent: the config ships only counter-api journal entries, parsed as JSON, and scrapes the /metrics of every worker on 127.0.0.1:9464+N', async (t) => {
  const file = await render('ops_agent', 'etc/google-cloud-ops-agent/config.yaml.j2', {});
  t.teardown(() => fs.rm(path.dirname(file), { recursive: true, force: true }));
  const config = (await readYaml(file)) as OpsAgentConfig;
  const logging = config.logging;
  for (const pipeline of Object.values(logging.service.pipelines)) {
    for (const receiver of pipeline.receivers) t.truthy(logging.receivers[receiver], `receiver ${receiver} is defined`);
    for (const processor of pipeline.processors ?? [])
      t.truthy(logging.processors[processor], `processor ${processor} is defined`);
  }
  t.is(logging.receivers.counter_api_journal?.type, 'systemd_journald');
  t.deepEqual(logging.processors.counter_api_only?.match_any, ['jsonPayload._SYSTEMD_UNIT != "counter-api.service"']);
  t.like(logging.processors.counter_api_json, { type: 'parse_json', field: 'MESSAGE' });
  const prometheus = config.metrics.receivers.counter_api_prometheus;
  t.is(prometheus?.type, 'prometheus');
  t.is(prometheus?.config.scrape_configs[0]?.metrics_path, '/metrics');
  t.deepEqual(prometheus?.config.scrape_configs[0]?.static_configs[0]?.targets, ['127.0.0.1:9464', '127.0.0.1:9465']);
  t.deepEqual(config.metrics.service.pipelines.counter_api?.receivers, ['counter_api_prometheus']);
});

async function ensureBuilt(): Promise<void> {
  if (!existsSync(path.join(repoDir, 'dist', 'server', 'counter', 'journal.js'))) {
    await runOk('npm', ['run', 'build', '--silent'], { timeoutMs: 5 * 60_000 });
  }
}

async function drainHelper(
  t: { teardown: (fn: () => Promise<void>) => void },
  appDir: string,
): Promise<{ helper: string; journal: string }> {
  const helper = await render('service', 'usr/local/libexec/counter-api-wait-journal-drained.j2', {
    service_app_dir: appDir,
  });
  const journal = await fs.mkdtemp(path.join(os.tmpdir(), 'counter-api-drain-test-'));
  t.teardown(async () => {
    await fs.rm(path.dirname(helper), { recursive: true, force: true });
    await fs.rm(journal, { recursive: true, force: true });
  });
  return { helper, journal };
}

const add = (id: string, n: number) => JSON.stringify({ op: 'add', id, n, at: Date.now() });
const done = (id: string, first: number, last: number) => JSON.stringify({ op: 'done', id, first, last });

test('drain helper: returns at once when the journal has nothing pending (empty, or every add done)', async (t) => {
  await ensureBuilt();
  const { helper, journal } = await drainHelper(t, repoDir);
  const empty = await run(helper, [journal, '10'], { timeoutMs: 20_000 });
  t.is(empty.code, 0, describe(empty));
  t.regex(empty.stdout, /drained \(waited 0\.\ds\)/);
  await fs.writeFile(path.join(journal, 'journal-w0-p123-s456.jsonl'), `${add('a', 2)}\n${done('a', 10, 11)}\n`);
  await fs.writeFile(path.join(journal, 'state.json'), '{"schemaVersion":3,"lastCommitted":11}');
  const replayed = await run(helper, [journal, '10'], { timeoutMs: 20_000 });
  t.regex(replayed.stdout, /drained \(waited 0\.\ds\)/);
  t.true(replayed.seconds < 5);
});

test('drain helper: waits up to its timeout while increments are pending, then lets the stop proceed', async (t) => {
  await ensureBuilt();
  const { helper, journal } = await drainHelper(t, repoDir);
  await fs.writeFile(
    path.join(journal, 'journal-w1-p123-s456.jsonl'),
    `${add('a', 2)}\n${done('a', 1, 2)}\n${add('b', 3)}\n`,
  );
  const result = await run(helper, [journal, '2'], { timeoutMs: 20_000 });
  t.is(result.code, 0, 'never fails the stop');
  t.regex(result.stderr, /still holds 3 increments after 2\.\ds; stopping anyway/);
  t.true(result.seconds >= 2 && result.seconds < 6, `${result.seconds} s`);
});

test('drain helper: returns as soon as the app replays the pending entries', async (t) => {
  await ensureBuilt();
  const { helper, journal } = await drainHelper(t, repoDir);
  const file = path.join(journal, 'journal-w0-p9-s9.jsonl');
  await fs.writeFile(file, `${add('x', 1)}\n`);
  const waiting = run(helper, [journal, '20'], { timeoutMs: 30_000 });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await fs.appendFile(file, `${done('x', 5, 5)}\n`);
  const result = await waiting;
  t.regex(result.stdout, /drained \(waited [1-4]\.\ds\)/);
});

test('drain helper: without the app parser it says so and does not block the stop', async (t) => {
  const { helper, journal } = await drainHelper(t, '/nonexistent/counter-api');
  await fs.writeFile(path.join(journal, 'journal-w0-p1-s1.jsonl'), `${add('a', 1)}\n`);
  const result = await run(helper, [journal, '10'], { timeoutMs: 20_000 });
  t.is(result.code, 0);
  t.regex(result.stderr, /cannot load the journal parser/);
  t.true(result.seconds < 5);
});
