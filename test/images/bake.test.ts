// The image, baked and audited for real on this machine: a Debian 13 root
// filesystem (cached debootstrap) gets ansible/bake.yml through the chroot
// connection, passes the audits at rest, boots as a container under its own
// systemd, serves POST / against a PostgreSQL, passes the audits live, stops
// cleanly, out-scores the untouched tree on Lynis, and is sealed. Needs root,
// debootstrap, ansible, lynis, systemd-container (npm run image:test).

import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { playbook, readReports, type PlaybookResult } from '../helpers/image-ansible.js';
import { BootedImage } from '../helpers/image-container.js';
import { cacheDir, describe, repoDir, runOk, scriptsDir, waitFor } from '../helpers/image-exec.js';
import { NetnsPostgres } from '../helpers/image-postgres.js';
import { lynisIndex, Rootfs } from '../helpers/image-rootfs.js';

const bundle = path.join(cacheDir, 'counter-api-bundle.tar.gz');
const reports = path.join(cacheDir, 'audit');
const started = Date.now();
const timings: Record<string, number> = {};

interface State {
  rootfs?: Rootfs;
  baked: boolean;
  lynisBefore?: number;
  image?: BootedImage;
  pg?: NetnsPostgres;
  lastCounter?: number;
}
const state: State = { baked: false };

function timed(name: string, seconds: number): void {
  timings[name] = Math.round(seconds * 10) / 10;
}

function requireBaked(): Rootfs {
  if (state.rootfs === undefined || !state.baked) throw new Error('the bake did not succeed; see the bake test');
  return state.rootfs;
}

function requireBooted(): BootedImage {
  if (state.image === undefined) throw new Error('the image did not boot; see the boot test');
  return state.image;
}

function assertPlaybook(result: PlaybookResult): void {
  if (result.code !== 0) throw new Error(`${describe(result, 60)}\n(full log: ${result.logFile})`);
}

/** POSTs from inside the container's network (a host-side Node with fetch). */
async function post(image: BootedImage, count: number): Promise<{ status: number; body: Record<string, unknown> }[]> {
  const script = `
    const out = [];
    for (let i = 0; i < ${count}; i++) {
      const res = await fetch('http://127.0.0.1:8080/', { method: 'POST', signal: AbortSignal.timeout(10000) });
      out.push({ status: res.status, body: await res.json() });
    }
    console.log(JSON.stringify(out));`;
  const result = await image.inNetwork(process.execPath, ['--input-type=module', '-e', script], 60_000);
  if (result.code !== 0) throw new Error(describe(result));
  return JSON.parse(result.stdout) as { status: number; body: Record<string, unknown> }[];
}

async function httpStatus(image: BootedImage, route: string): Promise<number> {
  const script = `fetch('http://127.0.0.1:8080${route}', { signal: AbortSignal.timeout(3000) }).then((r) => console.log(r.status), () => console.log(0))`;
  const result = await image.inNetwork(process.execPath, ['-e', script], 10_000);
  return Number(result.stdout.trim());
}

async function counterInDatabase(image: BootedImage, url: string): Promise<number> {
  const script = `
    const { createRequire } = require('node:module');
    const pg = createRequire(${JSON.stringify(path.join(repoDir, 'package.json'))})('pg');
    const client = new pg.Client({ connectionString: process.argv[1] });
    client.connect()
      .then(() => client.query('SELECT value FROM counter WHERE id = 1'))
      .then((r) => { console.log(String(r.rows[0].value)); return client.end(); });`;
  const result = await image.inNetwork(process.execPath, ['-e', script, url], 20_000);
  if (result.code !== 0) throw new Error(describe(result));
  return Number(result.stdout.trim());
}

test.after.always('stop the container and the database, remove the tree', async (t) => {
  const stops: Promise<unknown>[] = [];
  if (state.image !== undefined) stops.push(state.image.stop());
  if (state.pg !== undefined) stops.push(state.pg.stop());
  await Promise.allSettled(stops);
  if (state.rootfs !== undefined) await state.rootfs.remove();
  timed('total', (Date.now() - started) / 1000);
  t.log(`timings (s): ${JSON.stringify(timings)}`);
  await fs.writeFile(path.join(cacheDir, 'timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
});

test.serial(
  'rootfs: a Debian 13 (trixie) tree comes from the cached debootstrap tarball, or is made and cached',
  async (t) => {
    const built = await runOk('bash', [path.join(scriptsDir, 'image-bundle.sh'), bundle], { timeoutMs: 5 * 60_000 });
    timed('bundle', built.seconds);
    const { rootfs, cached, seconds, log } = await Rootfs.create();
    state.rootfs = rootfs;
    timed(cached ? 'rootfs (cached)' : 'rootfs (debootstrap)', seconds);
    t.log(log);
    await rootfs.mount();

    const osRelease = await fs.readFile(rootfs.file('etc/os-release'), 'utf8');
    t.regex(osRelease, /^VERSION_CODENAME=trixie$/m);
    t.true((await fs.stat(rootfs.file('usr/bin/python3'))).isFile(), 'python3 is in the tree for Ansible');
  },
);

test.serial('lynis: the untouched tree is scored before the bake', async (t) => {
  const rootfs = state.rootfs;
  if (rootfs === undefined) return t.fail('no tree');
  const before = await lynisIndex(rootfs);
  timed('lynis (untouched)', before.seconds);
  state.lynisBefore = before.index;
  t.log(`Lynis hardening index, untouched debootstrap tree: ${before.index} (${before.tests} tests)`);
  t.true(before.tests > 100, 'lynis ran its test suite');
});

test.serial('bake: bake.yml runs through the chroot connection and leaves no policy-rc.d behind', async (t) => {
  const rootfs = state.rootfs;
  if (rootfs === undefined) return t.fail('no tree');
  const result = await playbook('bake.yml', {
    root: rootfs.dir,
    label: 'bake',
    extraVars: { bake_app_bundle: bundle, bake_image_name: 'counter-api-local-test', bake_git_sha: 'local' },
  });
  timed('bake', result.seconds);
  assertPlaybook(result);
  t.is(result.recap?.failed, 0);
  await t.throwsAsync(fs.access(rootfs.file('usr/sbin/policy-rc.d')));
  state.baked = true;
});

test.serial(
  'bake: the app is root-owned under /opt/counter-api and its user is an unprivileged system account',
  async (t) => {
    const rootfs = requireBaked();
    const main = await fs.stat(rootfs.file('opt/counter-api/dist/server/main.js'));
    t.is(main.uid, 0);
    t.is(main.mode & 0o022, 0, 'main.js is not group/other-writable');
    await fs.access(rootfs.file('opt/counter-api/node_modules/.bin/pm2-runtime'));
    const passwd = await fs.readFile(rootfs.file('etc/passwd'), 'utf8');
    const counter = /^counter:x:(\d+):(\d+):[^:]*:([^:]*):(.*)$/m.exec(passwd);
    t.truthy(counter, 'a counter user exists');
    t.true(Number(counter?.[1]) < 1000, 'system uid');
    t.is(counter?.[4], '/usr/sbin/nologin');
    const config = await fs.stat(rootfs.file('etc/counter-api'));
    t.is(config.mode & 0o777, 0o750);
    t.is(config.uid, 0);
    t.is(config.gid, Number(counter?.[2]));
    const release = await fs.readFile(rootfs.file('etc/counter-api-image'), 'utf8');
    t.regex(release, /^IMAGE_NAME=counter-api-local-test$/m);
    const node = await rootfs.chroot(['/usr/bin/node', '--version']);
    t.regex(node.stdout, /^v2\d\./, "Debian's Node.js 20+");
  },
);

test.serial('bake: the unit passes systemd-analyze verify and its sandbox rates at most 2.0', async (t) => {
  const rootfs = requireBaked();
  const unit = '/etc/systemd/system/counter-api.service';
  const verify = await rootfs.chroot(['systemd-analyze', 'verify', unit]);
  t.is(verify.code, 0, describe(verify));
  t.deepEqual(
    verify.stderr.split('\n').filter((line) => line.includes('counter-api')),
    [],
  );
  const security = await rootfs.chroot(['systemd-analyze', 'security', '--offline=true', '--no-pager', unit]);
  const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(security.stdout)?.[1]);
  t.log(`systemd-analyze security exposure: ${exposure}`);
  t.true(exposure <= 2.0, `exposure ${exposure}`);
  const text = await fs.readFile(rootfs.file(unit), 'utf8');
  for (const directive of [
    'User=counter',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'PrivateTmp=yes',
    'CapabilityBoundingSet=',
    'Restart=always',
    'TimeoutStopSec=75',
  ]) {
    t.true(text.split('\n').includes(directive), directive);
  }
  t.true(
    text.includes(
      'ExecStart=/opt/counter-api/node_modules/.bin/pm2-runtime start /opt/counter-api/server/ecosystem.config.cjs',
    ),
  );
  const enabled = await rootfs.chroot(['systemctl', 'is-enabled', 'counter-api.service']);
  t.is(enabled.stdout.trim(), 'enabled');
});

test.serial('bake: SSH is key-only without root, the kernel parameters are set, and no compiler is left', async (t) => {
  const rootfs = requireBaked();
  const sshd = await rootfs.chroot(['/usr/sbin/sshd', '-T', '-C', 'user=nobody,host=localhost,addr=127.0.0.1']);
  t.is(sshd.code, 0, describe(sshd));
  const effective = new Set(sshd.stdout.toLowerCase().split('\n'));
  for (const line of [
    'permitrootlogin no',
    'passwordauthentication no',
    'kbdinteractiveauthentication no',
    'authenticationmethods publickey',
    'x11forwarding no',
    'allowtcpforwarding no',
    'maxauthtries 3',
  ]) {
    t.true(effective.has(line), line);
  }
  const sysctl = await fs.readFile(rootfs.file('etc/sysctl.d/90-counter-api-hardening.conf'), 'utf8');
  for (const line of [
    'kernel.kptr_restrict = 2',
    'net.ipv4.conf.all.accept_redirects = 0',
    'net.ipv4.tcp_syncookies = 1',
    'fs.suid_dumpable = 0',
  ]) {
    t.true(sysctl.split('\n').includes(line), line);
  }
  const compilers = await rootfs.chroot([
    '/bin/sh',
    '-c',
    'for b in gcc cc c++ g++ clang as ld make; do command -v "$b"; done; true',
  ]);
  t.is(compilers.stdout.trim(), '');
  const packages = await rootfs.chroot(['dpkg-query', '-W', '-f', '${Package}\\n']);
  const installed = new Set(packages.stdout.split('\n'));
  for (const forbidden of ['gcc', 'cpp', 'binutils', 'make', 'unattended-upgrades'])
    t.false(installed.has(forbidden), forbidden);
  for (const required of ['openssh-server', 'auditd', 'nftables', 'nodejs']) t.true(installed.has(required), required);
});

test.serial(
  'audit: audit.yml passes on the tree at rest, reports one uniform image, and changes nothing in the tree',
  async (t) => {
    const rootfs = requireBaked();
    const marker = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'counter-api-audit-')), 'marker');
    await fs.writeFile(marker, '');
    t.teardown(() => fs.rm(path.dirname(marker), { recursive: true, force: true }));
    await new Promise((resolve) => setTimeout(resolve, 1100)); // mtime granularity
    const dir = path.join(reports, 'at-rest');
    await fs.rm(dir, { recursive: true, force: true });
    const result = await playbook('audit.yml', { root: rootfs.dir, label: 'audit-at-rest', reportDir: dir });
    timed('audit (at rest)', result.seconds);
    assertPlaybook(result);
    const { host, fleet } = await readReports(dir);
    t.is(host.failed, 0, JSON.stringify(host.checks.filter((c) => !c.ok)));
    t.false(host.live);
    t.true(host.passed >= 25, `${host.passed} checks`);
    t.deepEqual(new Set(host.checks.map((c) => c.topic)), new Set(['packages', 'image', 'service', 'hardening']));
    t.regex(host.packages.libssl3t64 ?? '', /^3\./);
    t.deepEqual(fleet.images, { 'counter-api-local-test': ['rootfs'] });
    t.true(fleet.uniform);
    // Nothing that persists in the image changed: Ansible's scratch space
    // (/root/.ansible) aside, and /tmp and /run, which are tmpfs on a booted
    // image (systemd-analyze and Ansible modules use them while auditing).
    const scratch = ['root/.ansible', 'tmp', 'run'].flatMap((dir) => [
      '-not',
      '-path',
      `${rootfs.dir}/${dir}`,
      '-not',
      '-path',
      `${rootfs.dir}/${dir}/*`,
    ]);
    const changed = await runOk('find', [rootfs.dir, '-xdev', '-newer', marker, ...scratch, '-print'], {
      timeoutMs: 60_000,
    });
    t.deepEqual(changed.stdout.split('\n').filter(Boolean), []);
  },
);

test.serial(
  'audit: a package minimum above the installed libssl fails the audit and names the host and version',
  async (t) => {
    const rootfs = requireBaked();
    const dir = path.join(reports, 'libssl-too-old');
    const result = await playbook('audit.yml', {
      root: rootfs.dir,
      label: 'audit-libssl-too-old',
      reportDir: dir,
      tags: ['audit_packages'],
      extraVars: { audit_min_package_versions: { libssl3t64: '99:0' } },
    });
    t.not(result.code, 0, 'the audit fails');
    const { host, fleet } = await readReports(dir);
    const failed = host.checks.filter((c) => !c.ok);
    t.is(failed.length, 1);
    t.is(failed[0]?.check, 'libssl3t64 >= 99:0');
    t.regex(String(failed[0]?.actual), /^3\./);
    t.deepEqual(fleet.hosts_with_failures, { rootfs: ['libssl3t64 >= 99:0'] });
  },
);

test.serial('audit: an sshd drop-in that re-allows root login fails the hardening audit', async (t) => {
  const rootfs = requireBaked();
  const weak = rootfs.file('etc/ssh/sshd_config.d/00-aaa-weak.conf');
  await fs.writeFile(weak, 'PermitRootLogin yes\n');
  try {
    const dir = path.join(reports, 'weak-sshd');
    const result = await playbook('audit.yml', {
      root: rootfs.dir,
      label: 'audit-weak-sshd',
      reportDir: dir,
      tags: ['audit_hardening'],
    });
    t.not(result.code, 0, 'the audit fails');
    const { host } = await readReports(dir);
    const failed = host.checks.filter((c) => !c.ok);
    t.is(failed.length, 1);
    t.regex(failed[0]?.check ?? '', /^sshd's effective settings/);
    t.regex(String(failed[0]?.actual), /permitrootlogin no/);
  } finally {
    await fs.rm(weak);
  }
});

test.serial(
  'boot: the baked tree boots under its own systemd with no failed unit and starts counter-api against a database',
  async (t) => {
    const rootfs = requireBaked();
    const pg = await NetnsPostgres.prepare();
    state.pg = pg;
    // What the GCE startup script does before the unit starts: the env file,
    // 0640 root:counter. The database comes up only after the boot (it lives in
    // the container's network), so the app also proves it waits for it.
    const gid = Number(/^counter:x:\d+:(\d+):/m.exec(await fs.readFile(rootfs.file('etc/passwd'), 'utf8'))?.[1]);
    const env = rootfs.file('etc/counter-api/env');
    await fs.writeFile(env, `DATABASE_URL=${pg.url}\nWEB_CONCURRENCY=2\nLOG_LEVEL=info\n`, { mode: 0o640 });
    await fs.chown(env, 0, gid);
    await rootfs.umount(); // the container mounts its own /proc, /sys, /dev
    const bootStart = Date.now();
    const image = await BootedImage.boot(rootfs.dir);
    state.image = image;
    timed('boot', (Date.now() - bootStart) / 1000);
    await pg.start(image.leader);

    const failed = await image.exec(['systemctl', '--failed', '--no-legend', '--plain']);
    t.is(failed.stdout.trim(), '', `failed units:\n${failed.stdout}`);
    await waitFor(
      '/readyz',
      90_000,
      async () => ((await httpStatus(image, '/readyz')) === 200 ? true : undefined),
      1000,
    );
    const active = await image.exec(['systemctl', 'is-active', 'counter-api.service']);
    t.is(active.stdout.trim(), 'active');
    t.log(`masked for the local boot: ${BootedImage.maskedUnits.join(', ')} (host-wide kernel audit rules)`);
  },
);

test.serial(
  'smoke: POST / answers Hello world with consecutive counters from workers running as counter, and the database agrees',
  async (t) => {
    const image = requireBooted();
    const answers = await post(image, 5);
    t.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200, 200, 200],
    );
    for (const { body } of answers) {
      t.deepEqual(Object.keys(body).sort(), ['counter', 'message', 'timestamp']);
      t.is(body.message, 'Hello world');
      t.true(Number.isInteger(body.timestamp) && Math.abs(Number(body.timestamp) - Date.now() / 1000) < 600);
    }
    const counters = answers.map((a) => Number(a.body.counter));
    const first = counters[0] ?? Number.NaN;
    t.deepEqual(counters, [first, first + 1, first + 2, first + 3, first + 4]);
    if (state.pg === undefined) return t.fail('no database');
    t.is(await counterInDatabase(image, state.pg.url), first + 4);
    state.lastCounter = first + 4;

    const processes = await image.exec(['ps', '-eo', 'user=,args=']);
    const app = processes.stdout.split('\n').filter((line) => line.includes('/opt/counter-api/'));
    t.deepEqual(
      [...new Set(app.map((line) => line.trim().split(/\s+/)[0]))],
      ['counter'],
      'pm2-runtime and every worker run as counter',
    );
    t.is(app.length, 3, `pm2-runtime and two workers (WEB_CONCURRENCY=2):\n${app.join('\n')}`);
  },
);

test.serial('service: systemctl reload replaces every worker through pm2 and the count goes on', async (t) => {
  const image = requireBooted();
  const workers = async () => {
    const ps = await image.exec(['ps', '-eo', 'pid=,args=']);
    return ps.stdout
      .split('\n')
      .filter((line) => line.includes('/opt/counter-api/dist/server/main.js'))
      .map((line) => Number(line.trim().split(/\s+/)[0]))
      .sort();
  };
  const before = await workers();
  const reload = await image.exec(['systemctl', 'reload', 'counter-api.service'], 120_000);
  t.is(reload.code, 0, describe(reload));
  const after = await workers();
  t.is(after.length, before.length);
  t.deepEqual(
    after.filter((pid) => before.includes(pid)),
    [],
    'no worker survived the reload',
  );
  const answers = await post(image, 2);
  t.deepEqual(
    answers.map((a) => a.body.counter),
    [(state.lastCounter ?? Number.NaN) + 1, (state.lastCounter ?? Number.NaN) + 2],
  );
});

test.serial(
  'audit: audit.yml passes on the booted image (service, health, listening ports, firewall, kernel)',
  async (t) => {
    const rootfs = requireBaked();
    const image = requireBooted();
    const dir = path.join(reports, 'live');
    await fs.rm(dir, { recursive: true, force: true });
    const result = await playbook('audit.yml', {
      root: rootfs.dir,
      booted: image.leader,
      label: 'audit-live',
      reportDir: dir,
      // A container shares the build host's kernel.* (and global net.core.*)
      // values, read-only; its own network namespace carries the image's
      // per-namespace net.* ones.
      // Units masked for this boot are accepted as such (see BootedImage).
      extraVars: {
        audit_sysctl_live_prefixes: ['net.ipv4.', 'net.ipv6.', 'net.core.somaxconn'],
        audit_masked_for_boot: BootedImage.maskedUnits,
      },
    });
    timed('audit (live)', result.seconds);
    assertPlaybook(result);
    const { host } = await readReports(dir);
    t.true(host.live);
    t.is(host.failed, 0, JSON.stringify(host.checks.filter((c) => !c.ok)));
    const names = host.checks.map((c) => c.check);
    for (const expected of [
      'the service is active',
      '/readyz answers 200 (database reachable, schema migrated)',
      'the loaded firewall drops inbound by default',
    ]) {
      t.true(names.includes(expected), expected);
    }
    t.deepEqual(host.checks.find((c) => c.check.startsWith('only TCP ports'))?.actual, [22, 8080]);
  },
);

test.serial(
  'smoke: smoke.yml restarts the unit, POSTs, and stops it cleanly after the journal drain check',
  async (t) => {
    const rootfs = requireBaked();
    const image = requireBooted();
    const result = await playbook('smoke.yml', {
      root: rootfs.dir,
      booted: image.leader,
      label: 'smoke',
      extraVars: { smoke_post: true, smoke_cleanup: false },
    });
    timed('smoke', result.seconds);
    assertPlaybook(result);
    t.regex(result.stdout, /counter \d+ -> \d+/);
    t.regex(result.stdout, /journal in \/var\/lib\/counter-api\/journal drained/);
    const show = await image.exec(['systemctl', 'show', 'counter-api.service', '--property=ActiveState,Result']);
    t.deepEqual(show.stdout.trim().split('\n').sort(), ['ActiveState=inactive', 'Result=success']);
    // The app's pino JSON lines (flushed at the latest on stop) reach journald,
    // where the Ops Agent reads them.
    const logs = await image.exec(['journalctl', '--unit', 'counter-api.service', '--output', 'cat', '--no-pager']);
    t.regex(logs.stdout, /^\{"severity":"INFO".*"message":"drained; exiting"\}$/m, 'JSON log lines reach the journal');
  },
);

test.serial('boot: the container halts cleanly', async (t) => {
  const image = requireBooted();
  const seconds = await image.stop();
  state.image = undefined;
  timed('halt', seconds);
  t.true(seconds < 60, `${seconds} s`);
  await state.pg?.stop();
  state.pg = undefined;
});

test.serial('lynis: the baked tree scores higher than the untouched one (same run)', async (t) => {
  const rootfs = requireBaked();
  if (state.lynisBefore === undefined) return t.fail('no baseline score');
  await rootfs.mount();
  const after = await lynisIndex(rootfs);
  timed('lynis (baked)', after.seconds);
  const line = `Lynis hardening index: untouched debootstrap tree ${state.lynisBefore}, baked tree ${after.index} (${after.tests} tests)`;
  t.log(line);
  await fs.writeFile(
    path.join(cacheDir, 'lynis.json'),
    `${JSON.stringify({ before: state.lynisBefore, after: after.index, tests: after.tests, remaining: after.suggestions }, null, 2)}\n`,
  );
  t.true(after.index > state.lynisBefore, line);
});

test.serial('seal: seal.yml removes host keys, the machine id, the env file and the app state', async (t) => {
  const rootfs = requireBaked();
  const result = await playbook('seal.yml', { root: rootfs.dir, label: 'seal' });
  timed('seal', result.seconds);
  assertPlaybook(result);
  const keys = (await fs.readdir(rootfs.file('etc/ssh'))).filter((name) => name.startsWith('ssh_host_'));
  t.deepEqual(keys, []);
  t.is(await fs.readFile(rootfs.file('etc/machine-id'), 'utf8'), '');
  await t.throwsAsync(fs.access(rootfs.file('etc/counter-api/env')));
  await t.throwsAsync(fs.access(rootfs.file('var/lib/counter-api')));
});
