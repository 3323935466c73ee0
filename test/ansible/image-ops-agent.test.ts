// The Ops Agent configuration the image carries, rendered by Ansible from the
// role, and what it makes of journal entries shaped like the ones the booted
// image writes (see test/helpers/image-ops-agent.ts for the semantics, taken
// from the agent's sources): pino's severity and time reach the LogEntry, the
// security trail (sshd, sudo, auditd, kernel) is shipped and nothing else
// with it, and every worker's /metrics is scraped.

import test from 'ava';
import fs from 'node:fs/promises';
import path from 'node:path';
import { renderTemplate } from '../helpers/image-ansible.js';
import { readYaml } from '../helpers/image-exec.js';
import { fromJournal, matches, runPipeline, type LoggingConfig } from '../helpers/image-ops-agent.js';

interface OpsAgentConfig {
  readonly logging: LoggingConfig;
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

async function render(vars: Record<string, unknown>): Promise<OpsAgentConfig> {
  const file = await renderTemplate('ops_agent', 'etc/google-cloud-ops-agent/config.yaml.j2', vars);
  try {
    return (await readYaml(file)) as OpsAgentConfig;
  } finally {
    await fs.rm(path.dirname(file), { recursive: true, force: true });
  }
}

// The role's defaults are rendered once (an Ansible run each) for every test
// that reads them; the tests only read the result.
let defaults: Promise<OpsAgentConfig> | undefined;

function config(vars?: Record<string, unknown>): Promise<OpsAgentConfig> {
  if (vars !== undefined) return render(vars);
  defaults ??= render({});
  return defaults;
}

const APP = { _SYSTEMD_UNIT: 'counter-api.service', SYSLOG_IDENTIFIER: 'counter-api', _TRANSPORT: 'stdout' };

test('ops_agent: every pipeline names defined receivers and processors, and the receivers are journald and audit.log', async (t) => {
  const { logging } = await config();
  for (const [name, pipeline] of Object.entries(logging.service.pipelines)) {
    for (const receiver of pipeline.receivers) t.truthy(logging.receivers[receiver], `${name}: receiver ${receiver}`);
    for (const processor of pipeline.processors ?? [])
      t.truthy(logging.processors[processor], `${name}: processor ${processor}`);
  }
  t.is(logging.receivers.counter_api_journal?.type, 'systemd_journald');
  t.is(logging.receivers.security_journal?.type, 'systemd_journald');
  t.deepEqual(logging.receivers.security_audit, { type: 'files', include_paths: ['/var/log/audit/audit.log'] });
  t.deepEqual(logging.service.pipelines.security_audit?.receivers, ['security_audit']);
});

test("ops_agent: a pino ERROR line arrives as severity ERROR with pino's time, message and httpRequest promoted", async (t) => {
  const { logging } = await config();
  const line = {
    severity: 'ERROR',
    time: '2026-03-01T10:20:30.456Z',
    pid: 42,
    requestId: 'r-1',
    httpRequest: { requestMethod: 'POST', requestUrl: '/', status: 503, latency: '0.002000s', protocol: 'HTTP/1.1' },
    message: 'request failed',
  };
  const [entry, ...rest] = runPipeline(logging, 'counter_api', [
    fromJournal({ ...APP, PRIORITY: '6', MESSAGE: JSON.stringify(line) }),
  ]);
  t.deepEqual(rest, []);
  t.is(entry?.severity, 'ERROR', 'not the INFO that PRIORITY=6 gives');
  t.is(entry?.timestamp, '2026-03-01T10:20:30.456Z');
  t.is(entry?.jsonPayload.message, 'request failed');
  t.is(entry?.jsonPayload.severity, undefined, 'moved, not copied');
  t.is(entry?.jsonPayload.time, undefined);
  t.is(entry?.jsonPayload.MESSAGE, undefined);
  t.like(entry?.httpRequest, { requestMethod: 'POST', status: 503, latency: '0.002000s' });
});

test('ops_agent: each pino severity is kept, and a line that is not JSON keeps the journal priority', async (t) => {
  const { logging } = await config();
  const severities = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];
  const entries = severities.map((severity) =>
    fromJournal({
      ...APP,
      PRIORITY: '6',
      MESSAGE: JSON.stringify({ severity, message: 'x', time: '2026-03-01T00:00:00.000Z' }),
    }),
  );
  entries.push(fromJournal({ ...APP, PRIORITY: '3', MESSAGE: 'PM2 error: App [counter-api:1] exited with code [1]' }));
  const out = runPipeline(logging, 'counter_api', entries);
  t.deepEqual(
    out.map((e) => e.severity),
    [...severities, 'ERROR'],
  );
  t.is(out.at(-1)?.jsonPayload.MESSAGE, 'PM2 error: App [counter-api:1] exited with code [1]');
});

test('ops_agent: the app pipeline ships only the app unit; the security pipeline ships sshd, sudo, su, logind, auditd and kernel entries only', async (t) => {
  const { logging } = await config();
  const shipped = {
    'sshd login': { SYSLOG_IDENTIFIER: 'sshd-session', _SYSTEMD_UNIT: 'ssh.service', PRIORITY: '6' },
    'sshd listener': { SYSLOG_IDENTIFIER: 'sshd', _SYSTEMD_UNIT: 'ssh.service', PRIORITY: '6' },
    sudo: { SYSLOG_IDENTIFIER: 'sudo', _SYSTEMD_UNIT: 'session-3.scope', PRIORITY: '5' },
    su: { SYSLOG_IDENTIFIER: 'su', PRIORITY: '5' },
    logind: { SYSLOG_IDENTIFIER: 'systemd-logind', _SYSTEMD_UNIT: 'systemd-logind.service', PRIORITY: '6' },
    auditd: { SYSLOG_IDENTIFIER: 'auditd', _SYSTEMD_UNIT: 'auditd.service', PRIORITY: '5' },
    kernel: { SYSLOG_IDENTIFIER: 'kernel', _TRANSPORT: 'kernel', PRIORITY: '4' },
    'kernel audit': { _TRANSPORT: 'audit', PRIORITY: '5' },
  };
  const dropped = {
    app: { ...APP, PRIORITY: '6' },
    cron: { SYSLOG_IDENTIFIER: 'CRON', _SYSTEMD_UNIT: 'cron.service', PRIORITY: '6' },
    dhcp: { SYSLOG_IDENTIFIER: 'dhclient', _SYSTEMD_UNIT: 'networking.service', PRIORITY: '6' },
  };
  const entries = Object.entries({ ...shipped, ...dropped }).map(([MESSAGE, fields]) =>
    fromJournal({ ...fields, MESSAGE }),
  );
  const security = runPipeline(logging, 'security', entries).map((e) => e.jsonPayload.MESSAGE);
  t.deepEqual(security, Object.keys(shipped));
  const app = runPipeline(logging, 'counter_api', entries).map((e) => e.jsonPayload.MESSAGE);
  t.deepEqual(app, ['app']);
  t.is(runPipeline(logging, 'security', [fromJournal({ ...shipped.sudo, MESSAGE: 'x' })])[0]?.severity, 'NOTICE');
});

test('ops_agent: the filter emulation itself honours NOT, OR, = and != (a filter the agent would read differently fails here)', (t) => {
  const entry = fromJournal({ A: 'x', B: 'y' });
  t.true(matches('jsonPayload.A = "x"', entry));
  t.false(matches('jsonPayload.A != "x"', entry));
  t.true(matches('NOT (jsonPayload.A = "z" OR jsonPayload.B = "z")', entry));
  t.false(matches('NOT (jsonPayload.A = "z" OR jsonPayload.B = "y")', entry));
  t.throws(() => matches('jsonPayload.A =~ "x"', entry));
});

test('ops_agent: Prometheus scrapes /metrics of worker i on 127.0.0.1:9464+i, one target per worker', async (t) => {
  for (const workers of [2, 4]) {
    const { metrics } = await config({ ops_agent_metrics_workers: workers });
    const prometheus = metrics.receivers.counter_api_prometheus;
    t.is(prometheus?.type, 'prometheus');
    t.is(prometheus?.config.scrape_configs[0]?.metrics_path, '/metrics');
    t.deepEqual(
      prometheus?.config.scrape_configs[0]?.static_configs[0]?.targets,
      Array.from({ length: workers }, (_, i) => `127.0.0.1:${9464 + i}`),
    );
    t.deepEqual(metrics.service.pipelines.counter_api?.receivers, ['counter_api_prometheus']);
  }
});
