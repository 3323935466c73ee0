// The image, baked and audited for real on this machine, through
// scripts/image-bake-local.sh (the one local bake path): a Debian 13 root
// filesystem (cached debootstrap) gets ansible/bake.yml through the chroot
// connection, records its manifest, passes the audits at rest, out-scores the
// untouched tree on Lynis, is sealed over the build state a Packer VM leaves
// (seeded here), and only then boots as a container under its own systemd:
// a new machine id and host keys, POST / against a PostgreSQL, the audits
// live, a clean stop. Needs root, debootstrap, ansible, lynis,
// systemd-container (npm run image:test).

import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import {
  playbook,
  readReports,
  type AuditCheck,
  type FleetSummary,
  type PlaybookResult,
} from '../helpers/image-ansible.js';
import { BootedImage } from '../helpers/image-container.js';
import { cacheDir, describe, repoDir, run, runOk, scriptsDir, waitFor } from '../helpers/image-exec.js';
import { NetnsPostgres } from '../helpers/image-postgres.js';
import { bakeLocal, cachedBaseline, lynisIndex, Rootfs, type LynisScore } from '../helpers/image-rootfs.js';
import { sealSeeds, treeDigest } from '../helpers/image-seal.js';
import { GCE_BASE_PACKAGES, installBasePackages } from '../../twin/image.js';

// CI builds the bundle once as an artifact (.ci/run) and passes it here, so
// the bundle this suite proves is the one Packer bakes; alone, the suite
// builds its own.
const bundle = process.env.IMAGE_BUNDLE ?? path.join(cacheDir, 'counter-api-bundle.tar.gz');
const reports = path.join(cacheDir, 'audit');
const started = Date.now();
const timings: Record<string, number> = {};

interface State {
  rootfs?: Rootfs;
  baked: boolean;
  /** A second copy of the pristine tree, scored by Lynis while the first one is baked. */
  untouched?: Rootfs;
  /** The untouched tree's score: the one recorded beside the tarball, or one made during the bake. */
  lynisBefore?: Promise<LynisScore & { readonly recorded: boolean }>;
  image?: BootedImage;
  pg?: NetnsPostgres;
  lastCounter?: number;
  /** Identity of the tree before the seal, to prove the first boot replaced it. */
  unsealed?: { machineId: string; hostKey: string };
  sealed: boolean;
}
const state: State = { baked: false, sealed: false };

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
  if (state.lynisBefore !== undefined) stops.push(state.lynisBefore);
  await Promise.allSettled(stops);
  if (state.untouched !== undefined) await state.untouched.remove();
  if (state.rootfs !== undefined) await state.rootfs.remove();
  timed('total', (Date.now() - started) / 1000);
  t.log(`timings (s): ${JSON.stringify(timings)}`);
  await fs.writeFile(path.join(cacheDir, 'timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
});

test.serial(
  'rootfs: a Debian 13 (trixie) tree comes from the cached debootstrap tarball, or is made and cached',
  async (t) => {
    if (process.env.IMAGE_BUNDLE === undefined) {
      const built = await runOk('bash', [path.join(scriptsDir, 'image-bundle.sh'), bundle], {
        timeoutMs: 5 * 60_000,
      });
      timed('bundle', built.seconds);
    }
    const { rootfs, cached, tarball, seconds, log } = await Rootfs.create();
    state.rootfs = rootfs;
    timed(cached ? 'rootfs (cached)' : 'rootfs (debootstrap)', seconds);
    t.log(log);
    await rootfs.mount();

    const osRelease = await fs.readFile(rootfs.file('etc/os-release'), 'utf8');
    t.regex(osRelease, /^VERSION_CODENAME=trixie$/m);
    t.true((await fs.stat(rootfs.file('usr/bin/python3'))).isFile(), 'python3 is in the tree for Ansible');

    // The untouched tree's Lynis score is a property of the tarball (same
    // tarball, same Lynis and profile: same score), so it is kept beside it
    // (CI makes it while the unit tests run, with the tarball). Without one,
    // it is made here on a second tree from the same tarball while the first
    // is baked, recorded for the next run, and checked after the bake.
    t.truthy(tarball, 'image-rootfs names the tarball the tree came from');
    const recorded = tarball === undefined ? undefined : await cachedBaseline(tarball);
    if (recorded !== undefined) {
      state.lynisBefore = Promise.resolve({ ...recorded, recorded: true });
      return;
    }
    const copy = await Rootfs.create();
    t.true(copy.cached, 'the second tree comes from the tarball the first one was made from or cached as');
    state.untouched = copy.rootfs;
    await copy.rootfs.mount();
    state.lynisBefore = lynisIndex(copy.rootfs, tarball === undefined ? undefined : `${tarball}.lynis.json`).then(
      (score) => ({ ...score, recorded: false }),
    );
    state.lynisBefore.catch(() => undefined); // awaited (and reported) by the lynis test below
  },
);

test.serial(
  'bake: image-bake-local.sh runs bake.yml through the chroot connection, unmounts, and leaves no policy-rc.d behind',
  async (t) => {
    const rootfs = state.rootfs;
    if (rootfs === undefined) return t.fail('no tree');
    // Packer starts from Google's debian-13 image, which has these and the
    // debootstrap tree lacks (the twin adds them the same way): the bake, the
    // seal and the audits then see the packages a GCE VM has (sudo among
    // them, whose packaged directories the seal must leave in place).
    const baseStart = Date.now();
    await installBasePackages(rootfs.dir);
    timed(`GCE base packages (${GCE_BASE_PACKAGES.join(', ')})`, (Date.now() - baseStart) / 1000);
    await rootfs.umount();
    const result = await bakeLocal(rootfs.dir, ['bake'], {
      bundle,
      extraVars: {
        bake_image_name: 'counter-api-local-test',
        bake_image_version: '1.2.3-test',
        bake_git_sha: 'local',
      },
    });
    timed('bake', result.seconds);
    t.regex(result.stderr, /bake\.yml in \d+s/);
    const mounts = await run('bash', [path.join(scriptsDir, 'image-chroot.sh'), 'mounts', rootfs.dir], {
      timeoutMs: 10_000,
    });
    t.is(mounts.code, 0, `left mounted: ${mounts.stdout}`);
    await t.throwsAsync(fs.access(rootfs.file('usr/sbin/policy-rc.d')));
    await rootfs.mount();
    state.baked = true;
  },
);

test.serial(
  'lynis: the untouched tree (recorded beside its tarball, or a copy scored during the bake) has a baseline score',
  async (t) => {
    if (state.lynisBefore === undefined) return t.fail('no untouched tree');
    const before = await state.lynisBefore;
    if (!before.recorded) timed('lynis (untouched, during the bake)', before.seconds);
    t.log(
      `Lynis hardening index, untouched debootstrap tree: ${before.index} (${before.tests} tests; ${before.recorded ? 'recorded beside the tarball' : `scored now in ${before.seconds} s`}; ${before.scorer})`,
    );
    t.true(before.tests > 100, 'lynis ran its test suite');
    await state.untouched?.remove();
    state.untouched = undefined;
  },
);

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
  'hardening: SUID/SGID bits only on the allow-list (as dpkg statoverrides), /tmp and /dev/shm noexec, CIS 6.3 audit rules',
  async (t) => {
    const rootfs = requireBaked();
    const suid = await rootfs.chroot(['find', '/', '-xdev', '-type', 'f', '-perm', '/6000', '-print']);
    const allowed = ['/usr/bin/sudo', '/usr/sbin/unix_chkpwd', '/usr/lib/dbus-1.0/dbus-daemon-launch-helper'];
    const left = suid.stdout.trim().split('\n').filter(Boolean);
    t.deepEqual(
      left.filter((file) => !allowed.includes(file)),
      [],
    );
    const overrides = await rootfs.chroot(['dpkg-statoverride', '--list']);
    for (const stripped of ['/usr/bin/su', '/usr/bin/passwd', '/usr/bin/chfn'])
      t.regex(
        overrides.stdout,
        new RegExp(`^root root 0?755 ${stripped}$`, 'm'),
        `${stripped} stays stripped on upgrade`,
      );
    const tmp = await fs.readFile(rootfs.file('etc/systemd/system/tmp.mount.d/50-counter-api.conf'), 'utf8');
    t.regex(tmp, /^Options=.*\bnoexec\b/m);
    const fstab = await fs.readFile(rootfs.file('etc/fstab'), 'utf8');
    t.regex(fstab, /^tmpfs\s+\/dev\/shm\s+tmpfs\s+defaults,nosuid,nodev,noexec\s/m);
    const rules = (await fs.readFile(rootfs.file('etc/audit/audit.rules'), 'utf8')).split('\n');
    for (const program of left)
      t.true(
        rules.includes(`-a always,exit -F path=${program} -F perm=x -F auid>=1000 -F auid!=unset -k privileged`),
        `privileged: ${program}`,
      );
    for (const key of ['access', 'mounts', 'delete', 'MAC-policy', 'perm_mod', 'kernel_modules', 'sudo_log_file'])
      t.true(
        rules.some((line) => line.endsWith(` -k ${key}`)),
        `rules keyed ${key}`,
      );
    t.true(rules.includes('-w /etc/pam.d -p wa -k identity'));
    t.true(rules.includes('-w /etc/nsswitch.conf -p wa -k identity'));
    t.is(rules.filter(Boolean).at(-1), '-e 2', 'immutable, last');
    const apparmor = await rootfs.chroot(['systemctl', 'is-enabled', 'apparmor.service']);
    t.is(apparmor.stdout.trim(), 'enabled');
  },
);

interface Manifest {
  readonly [key: string]: unknown;
  readonly bundle_sha256: string;
  readonly bundle_dir: string;
  readonly packages_file: string;
  readonly package_pins: readonly { name: string; version: string }[];
}

async function readManifest(rootfs: Rootfs): Promise<Manifest> {
  return JSON.parse(
    await fs.readFile(rootfs.file('usr/local/share/counter-api/image-manifest.json'), 'utf8'),
  ) as Manifest;
}

test.serial(
  'manifest: the image records its version, the bundle digest of the deployed tree, Node, kernel and every package, last',
  async (t) => {
    const rootfs = requireBaked();
    const manifest = await readManifest(rootfs);
    t.like(manifest, {
      image_version: '1.2.3-test',
      image_name: 'counter-api-local-test',
      git_sha: 'local',
      bundle_dir: '/opt/counter-api',
      packages_file: '/usr/local/share/counter-api/packages.tsv',
      kernel_release: null, // a container tree carries no kernel
    });
    t.regex(String(manifest.built_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const release = await fs.readFile(rootfs.file('etc/counter-api-image'), 'utf8');
    t.true(release.includes(`BUILD_DATE=${String(manifest.built_at)}\n`), 'one build time in both records');
    t.regex(release, /^IMAGE_VERSION=1\.2\.3-test$/m);
    // The contract's formula, recomputed here over the tree as deployed.
    t.is(manifest.bundle_sha256, await treeDigest(rootfs.dir, '/opt/counter-api'));
    const tarball = createHash('sha256')
      .update(await fs.readFile(bundle))
      .digest('hex');
    t.is(manifest.bundle_tarball_sha256, tarball);
    // ...and the digests image-bundle.sh published beside the artifact (what
    // CI prints and Packer labels the image with) are the ones the bake got.
    const sidecar = JSON.parse(await fs.readFile(`${bundle}.json`, 'utf8')) as Record<string, string>;
    t.is(sidecar.tree_sha256, manifest.bundle_sha256);
    t.is(sidecar.tarball_sha256, tarball);
    const node = await rootfs.chroot(['/usr/bin/node', '--version']);
    t.is(manifest.node_version, node.stdout.trim());
    const dpkg = await rootfs.chroot(['dpkg-query', '-W', '-f=${Package}\\t${Version}\\t${Architecture}\\n']);
    const expected = dpkg.stdout.trim().split('\n').sort();
    const recorded = (await fs.readFile(rootfs.file('usr/local/share/counter-api/packages.tsv'), 'utf8'))
      .trimEnd()
      .split('\n');
    t.deepEqual(recorded, expected, 'packages.tsv is the final package set, sorted');
    t.is(manifest.packages_count, expected.length);
    t.true(recorded.some((line) => line.startsWith('auditd\t')));
  },
);

test.serial(
  'pins: runtime_package_pins installs an exact (older when Debian has one) openssl, holds it, and the manifest records it',
  async (t) => {
    const rootfs = requireBaked();
    const madison = await rootfs.chroot(['apt-cache', 'madison', 'openssl']);
    const versions = [...new Set(madison.stdout.split('\n').map((line) => line.split('|')[1]?.trim() ?? ''))].filter(
      Boolean,
    );
    const oldest = versions.at(-1);
    if (oldest === undefined) return t.fail(`no openssl versions:\n${madison.stdout}`);
    const before = (await rootfs.chroot(['dpkg-query', '-W', '-f=${Version}', 'openssl'])).stdout;
    t.log(`openssl ${before} -> pinned ${oldest} (available: ${versions.join(', ')})`);
    const pins = [{ name: 'openssl', version: oldest }];
    const result = await playbook('bake.yml', {
      root: rootfs.dir,
      label: 'bake-pins',
      tags: ['runtime_pins', 'manifest'],
      extraVars: {
        bake_app_bundle: bundle,
        bake_image_name: 'counter-api-local-test',
        bake_image_version: '1.2.3-test',
        bake_git_sha: 'local',
        bake_package_pins: pins,
      },
    });
    timed('pins', result.seconds);
    assertPlaybook(result);
    const status = await rootfs.chroot(['dpkg-query', '-W', '-f=${Version} ${db:Status-Abbrev}', 'openssl']);
    t.is(status.stdout.trim(), `${oldest} hi`, 'installed at the pinned version and held');
    const manifest = await readManifest(rootfs);
    t.deepEqual(manifest.package_pins, pins);
    const packages = await fs.readFile(rootfs.file('usr/local/share/counter-api/packages.tsv'), 'utf8');
    t.true(packages.includes(`\nopenssl\t${oldest}\t`), 'the package list was rewritten after the pin');
  },
);

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
    // Drift runs at rest too: the tree is compared with the manifest its own bake recorded.
    t.deepEqual(
      new Set(host.checks.map((c) => c.topic)),
      new Set(['packages', 'image', 'drift', 'service', 'hardening']),
    );
    t.regex(host.packages.libssl3t64 ?? '', /^3\./);
    t.deepEqual(fleet.images, { 'counter-api-local-test': ['rootfs'] });
    t.true(fleet.uniform);
    // Nothing that persists in the image changed: Ansible's scratch space
    // (/root/.ansible) aside, /tmp and /run, which are tmpfs on a booted
    // image (systemd-analyze and Ansible modules use them while auditing),
    // and apt's binary package caches (/var/cache/apt/*.bin), which any
    // reader of the package lists (package_facts) rebuilds when an apt run
    // before it (the pins test) left them stale: derived from /var/lib, no
    // state of their own.
    const scratch = [
      ...['root/.ansible', 'tmp', 'run'].flatMap((dir) => [dir, `${dir}/*`]),
      ...['var/cache/apt', 'var/cache/apt/pkgcache.bin', 'var/cache/apt/srcpkgcache.bin'],
    ].flatMap((p) => ['-not', '-path', `${rootfs.dir}/${p}`]);
    const changed = await runOk('find', [rootfs.dir, '-xdev', '-newer', marker, ...scratch, '-print'], {
      timeoutMs: 60_000,
    });
    t.deepEqual(changed.stdout.split('\n').filter(Boolean), []);
  },
);

/** Runs audit.yml at rest with `tags` into its own report dir; returns the exit code, the failed checks and the fleet summary. */
async function auditAtRest(
  label: string,
  tags: readonly string[],
  extraVars?: Readonly<Record<string, unknown>>,
): Promise<{ code: number | null; failed: AuditCheck[]; fleet: FleetSummary }> {
  const rootfs = requireBaked();
  const dir = path.join(reports, label);
  const result = await playbook('audit.yml', {
    root: rootfs.dir,
    label: `audit-${label}`,
    reportDir: dir,
    tags,
    ...(extraVars === undefined ? {} : { extraVars }),
  });
  const { host, fleet } = await readReports(dir);
  return { code: result.code, failed: host.checks.filter((c) => !c.ok), fleet };
}

test.serial(
  'audit: a topic playbook run on its own fails when its checks fail, and passes when they pass',
  async (t) => {
    const rootfs = requireBaked();
    // Before audit-verdict.yml, audit-packages.yml alone exited 0 with a failed check.
    const failing = await playbook('audit-packages.yml', {
      root: rootfs.dir,
      label: 'audit-packages-alone-too-old',
      extraVars: { audit_min_package_versions: { libssl3t64: '99:0' } },
    });
    t.not(failing.code, 0, 'the topic alone fails');
    t.regex(failing.stdout, /1 check\(s\) failed on rootfs: \['*libssl3t64 >= 99:0'*\]/);
    const passing = await playbook('audit-packages.yml', { root: rootfs.dir, label: 'audit-packages-alone' });
    t.is(passing.code, 0, passing.stdout.slice(-2000));
    t.regex(passing.stdout, /\d+ check\(s\) passed/);
  },
);

// Three faults in one audit run (each run costs 10-20 s of Ansible round
// trips through the chroot): a package minimum above the installed libssl,
// an Ops Agent config that scrapes a worker the unit does not start (a bake
// for a 3-vCPU machine type whose unit still starts 2 workers), and an sshd
// drop-in that re-allows root login. Each must fail its own check, and
// nothing else may fail.
test.serial(
  'audit: a libssl below the minimum, Ops Agent targets that disagree with the workers, and an sshd drop-in allowing root each fail exactly their check, naming the host',
  async (t) => {
    const rootfs = requireBaked();
    const config = rootfs.file('etc/google-cloud-ops-agent/config.yaml');
    const original = await fs.readFile(config, 'utf8');
    t.regex(original, /^ +- "127\.0\.0\.1:9465"$/m);
    const weak = rootfs.file('etc/ssh/sshd_config.d/00-aaa-weak.conf');
    await fs.writeFile(config, original.replace(/^( +)- "127\.0\.0\.1:9465"$/m, '$&\n$1- "127.0.0.1:9466"'));
    await fs.writeFile(weak, 'PermitRootLogin yes\n');
    try {
      const { code, failed, fleet } = await auditAtRest(
        'three-faults',
        ['audit_packages', 'audit_service', 'audit_hardening'],
        { audit_min_package_versions: { libssl3t64: '99:0' } },
      );
      t.not(code, 0, 'the audit fails');
      const libssl = 'libssl3t64 >= 99:0';
      const workers =
        "the unit pins its workers (WEB_CONCURRENCY) and the Ops Agent scrapes each worker's /metrics, no more";
      const sshd =
        failed.find((c) => c.check.startsWith("sshd's effective settings"))?.check ?? "sshd's effective settings";
      t.deepEqual(failed.map((c) => c.check).sort(), [libssl, workers, sshd].sort(), 'exactly the three faults fail');
      t.regex(String(failed.find((c) => c.check === libssl)?.actual), /^3\./, 'the installed version is named');
      t.regex(
        String(failed.find((c) => c.check === workers)?.actual),
        /WEB_CONCURRENCY=2 METRICS_PORT=9464 targets=.*9466/,
      );
      t.regex(String(failed.find((c) => c.check === sshd)?.actual), /permitrootlogin no/);
      t.deepEqual(Object.keys(fleet.hosts_with_failures), ['rootfs']);
      t.deepEqual([...(fleet.hosts_with_failures.rootfs ?? [])].sort(), [libssl, workers, sshd].sort());
    } finally {
      await fs.writeFile(config, original);
      await fs.rm(weak, { force: true });
    }
  },
);

test.serial(
  'lynis: the baked tree scores higher than the untouched one from the same tarball, by the same Lynis and profile',
  async (t) => {
    const rootfs = requireBaked();
    if (state.lynisBefore === undefined) return t.fail('no baseline score');
    const baseline = await state.lynisBefore;
    const before = baseline.index;
    const after = await lynisIndex(rootfs);
    timed('lynis (baked)', after.seconds);
    t.is(after.scorer, baseline.scorer, 'both scores by the same Lynis and profile');
    const line = `Lynis hardening index: untouched debootstrap tree ${before}, baked tree ${after.index} (${after.tests} tests)`;
    t.log(line);
    await fs.writeFile(
      path.join(cacheDir, 'lynis.json'),
      `${JSON.stringify({ before, after: after.index, tests: after.tests, remaining: after.suggestions }, null, 2)}\n`,
    );
    t.true(after.index > before, line);
  },
);

test.serial(
  'seal: seal.yml removes the build state a Packer VM leaves (seeded here), host keys and the machine id, and keeps the manifest',
  async (t) => {
    const rootfs = requireBaked();
    const machineId = (await fs.readFile(rootfs.file('etc/machine-id'), 'utf8')).trim();
    const hostKey = await fs.readFile(rootfs.file('etc/ssh/ssh_host_ed25519_key.pub'), 'utf8');
    t.regex(machineId, /^[0-9a-f]{32}$/, 'the bake left a machine id to remove');
    state.unsealed = { machineId, hostKey };
    const seeded = await sealSeeds(rootfs.dir);
    // What dpkg --verify reports (the bake changes some conffiles): the seal
    // may add nothing to it, or every VM's drift audit would fail on a
    // packaged file or directory the seal removed.
    const verify = async () => {
      const result = await rootfs.chroot(['dpkg', '--verify']);
      if (result.code !== 0 && result.code !== 1) throw new Error(describe(result));
      return result.stdout.split('\n').filter(Boolean);
    };
    const verifiedBefore = await verify();
    await rootfs.umount();
    const result = await bakeLocal(rootfs.dir, ['seal']);
    timed('seal', result.seconds);
    const verifiedAfter = await verify(); // dpkg needs no /proc or /dev: the tree stays unmounted
    t.deepEqual(
      verifiedAfter.filter((line) => !verifiedBefore.includes(line)),
      [],
      'the seal removed no packaged file or directory (dpkg --verify)',
    );
    const left = [];
    for (const file of seeded) {
      if (
        await fs.lstat(rootfs.file(file)).then(
          () => true,
          () => false,
        )
      )
        left.push(file);
    }
    t.deepEqual(left, [], 'every seeded build-state path is gone');
    t.deepEqual(await fs.readdir(rootfs.file('home')), []);
    t.deepEqual(
      (await fs.readdir(rootfs.file('var'))).filter((name) => name.startsWith('google-')),
      [],
    );
    t.deepEqual(
      (await fs.readdir(rootfs.file('etc/ssh'))).filter((name) => name.startsWith('ssh_host_')),
      [],
    );
    t.is(await fs.readFile(rootfs.file('etc/machine-id'), 'utf8'), '');
    await t.throwsAsync(fs.access(rootfs.file('root/.ansible')));
    await t.throwsAsync(fs.access(rootfs.file('etc/counter-api/env')));
    await t.throwsAsync(fs.access(rootfs.file('var/lib/counter-api')));
    const logs = await runOk('find', [rootfs.file('var/log'), '-type', 'f'], { timeoutMs: 10_000 });
    t.is(logs.stdout.trim(), '');
    t.like(await readManifest(rootfs), { image_version: '1.2.3-test' });
    state.sealed = true;
  },
);

test.serial(
  'boot: the SEALED tree boots under its own systemd with no failed unit and starts counter-api against a database',
  async (t) => {
    const rootfs = requireBaked();
    if (!state.sealed) return t.fail('the seal did not succeed; see the seal test');
    const pg = await NetnsPostgres.prepare();
    state.pg = pg;
    // What the GCE startup script does before the unit starts: the env file,
    // 0640 root:counter. The database comes up only after the boot (it lives in
    // the container's network), so the app also proves it waits for it.
    const gid = Number(/^counter:x:\d+:(\d+):/m.exec(await fs.readFile(rootfs.file('etc/passwd'), 'utf8'))?.[1]);
    const env = rootfs.file('etc/counter-api/env');
    await fs.writeFile(env, `DATABASE_URL=${pg.url}\nWEB_CONCURRENCY=2\nLOG_LEVEL=info\n`, { mode: 0o640 });
    await fs.chown(env, 0, gid);
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
  'boot: the first boot of the sealed tree makes a new machine id and new SSH host keys, and sshd serves with them',
  async (t) => {
    const image = requireBooted();
    const unsealed = state.unsealed;
    if (unsealed === undefined) return t.fail('no identity recorded before the seal');
    const machineId = (await image.exec(['cat', '/etc/machine-id'])).stdout.trim();
    t.regex(machineId, /^[0-9a-f]{32}$/);
    t.not(machineId, unsealed.machineId);
    const keygen = await image.exec([
      'systemctl',
      'show',
      'ssh-hostkeys-firstboot.service',
      '--property=Result,ExecMainStatus,ConditionResult',
    ]);
    t.deepEqual(keygen.stdout.trim().split('\n').sort(), ['ConditionResult=yes', 'ExecMainStatus=0', 'Result=success']);
    const hostKey = (await image.exec(['cat', '/etc/ssh/ssh_host_ed25519_key.pub'])).stdout;
    t.regex(hostKey, /^ssh-ed25519 /);
    t.not(hostKey, unsealed.hostKey);
    const ssh = await image.exec(['systemctl', 'is-active', 'ssh.service']);
    t.is(ssh.stdout.trim(), 'active');
    const journals = await image.exec(['ls', '/var/log/journal']);
    t.deepEqual(journals.stdout.trim().split('\n'), [machineId], "only this boot's journal");
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
        // The container runs on this machine's kernel, which has no AppArmor.
        audit_apparmor_required: false,
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
      'every worker serves its metrics where the Ops Agent scrapes them, and no worker runs past the last target',
    ]) {
      t.true(names.includes(expected), expected);
    }
    t.deepEqual(host.checks.find((c) => c.check.startsWith('only TCP ports'))?.actual, [22, 8080]);
    t.is(
      host.checks.find((c) => c.check.startsWith('every worker serves its metrics'))?.actual,
      "answering=['127.0.0.1:9464', '127.0.0.1:9465'] of ['127.0.0.1:9464', '127.0.0.1:9465']; next port: -1",
    );
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
