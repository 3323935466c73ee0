// Drift and CVE audits (audit-drift.yml, audit-cve.yml) against host trees
// laid out in temporary directories and reached with the local connection
// (audit_root points the tasks at each tree): one untouched host, and one
// each with an upgraded package, a modified packaged file, a modified bundle
// file and no bake manifest. CVE matching runs debsecan against a small copy
// of the security tracker's data, and against an unreachable tracker.

import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BUNDLE_DIR, MANIFEST_DIR, makeHostRoot, writeTrackerData } from '../helpers/fleet-fixture.js';
import { ansibleDir, describe, run } from '../helpers/image-exec.js';

interface Check {
  readonly topic: string;
  readonly check: string;
  readonly ok: boolean;
  readonly actual: unknown;
}
interface HostReport {
  readonly checks: readonly Check[];
  readonly drift: Readonly<Record<string, unknown>> | null;
  readonly cve: {
    readonly status: string;
    readonly reason: string | null;
    readonly vulnerabilities: readonly { cve: string; package: string; notes: string }[];
    readonly fix_available: readonly string[];
  } | null;
}

const KERNEL = '6.12.57+deb13-cloud-amd64';
const PATCHED = { libssl3t64: '3.5.1-1+deb13u1' };
const MANIFEST_CHECK = "the image's bake manifest is present with every key";
const PACKAGES_CHECK = 'the installed packages are exactly those recorded at bake';
const VERIFY_CHECK = 'dpkg --verify finds no packaged file (outside conffiles) modified or missing';
const BUNDLE_CHECK = "the app bundle hashes to the bake's bundle_sha256";
const KERNEL_CHECK = 'the kernel is the baked one (installed)';
const NODE_CHECK = 'Node.js is the baked version';
const FIXED_CHECK = 'no installed package misses a fix that trixie already has';
const TRACKER_CHECK = 'known vulnerabilities were matched against the security tracker (trixie)';

type Mutation = (root: string) => Promise<void>;
const hosts: Record<string, { versions?: Record<string, string>; mutate?: Mutation; kernel?: string | null }> = {
  clean: { versions: PATCHED },
  // A tree baked for a container has no kernel (manifest null): none at rest passes, one that appears fails.
  'container-tree': { versions: PATCHED, kernel: null },
  'container-tree-kernel-added': {
    versions: PATCHED,
    kernel: null,
    mutate: async (root) => {
      await fs.mkdir(path.join(root, 'boot'), { recursive: true });
      await fs.writeFile(path.join(root, 'boot/vmlinuz-6.99.0-added'), 'kernel\n');
    },
  },
  'package-upgraded': {
    mutate: async (root) => {
      const file = path.join(root, 'var/lib/dpkg/status');
      await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace('Version: 1.0-1+b1', 'Version: 1.0-2'));
    },
  },
  'file-modified': {
    versions: PATCHED,
    mutate: async (root) => {
      await fs.writeFile(path.join(root, 'usr/bin/hello-fixture'), '#!/bin/sh\necho pwned\n');
      await fs.writeFile(path.join(root, 'etc/hello-fixture.conf'), 'greeting=hi\n');
    },
  },
  'bundle-modified': {
    versions: PATCHED,
    mutate: (root) => fs.appendFile(path.join(root, BUNDLE_DIR.slice(1), 'dist/server/main.js'), '// injected\n'),
  },
  'no-manifest': {
    versions: PATCHED,
    mutate: (root) => fs.rm(path.join(root, MANIFEST_DIR.slice(1), 'image-manifest.json')),
  },
};

async function audit(
  t: { teardown: (fn: () => Promise<void>) => void },
  names: readonly string[],
  vars: Readonly<Record<string, unknown>>,
  tags: string,
) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-drift-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const inventory: Record<string, Record<string, unknown>> = {};
  for (const name of names) {
    const root = path.join(dir, name);
    makeHostRoot(root, {
      image: 'counter-api-abc',
      kernel: hosts[name]?.kernel === undefined ? KERNEL : hosts[name].kernel,
      nodeVersion: process.version,
      versions: hosts[name]?.versions ?? {},
    });
    await hosts[name]?.mutate?.(root);
    inventory[name] = {
      ansible_connection: 'local',
      ansible_python_interpreter: '/usr/bin/python3',
      ansible_become: false,
      audit_root: root,
      audit_live: false,
      audit_node_binary: process.execPath,
    };
  }
  writeTrackerData(path.join(dir, 'tracker'), 'trixie');
  const file = path.join(dir, 'hosts.json');
  await fs.writeFile(file, JSON.stringify({ counter_api: { hosts: inventory } }));
  const extra = { audit_expected_hosts: names.length, ...vars };
  const report = path.join(dir, 'report');
  const result = await run(
    'ansible-playbook',
    [
      '-i',
      file,
      'audit.yml',
      '--tags',
      tags,
      '--extra-vars',
      JSON.stringify(extra).replaceAll('@TRACKER@', path.join(dir, 'tracker')),
    ],
    {
      cwd: ansibleDir,
      env: {
        ...process.env,
        ANSIBLE_CONFIG: path.join(ansibleDir, 'ansible.cfg'),
        ANSIBLE_NOCOLOR: '1',
        AUDIT_REPORT_DIR: report,
      },
      timeoutMs: 8 * 60_000,
    },
  );
  const read = async (name: string) =>
    JSON.parse(await fs.readFile(path.join(report, `${name}.json`), 'utf8')) as HostReport;
  const summary = async () =>
    JSON.parse(await fs.readFile(path.join(report, 'fleet-summary.json'), 'utf8')) as Record<string, unknown>;
  return { result, read, summary };
}

const okOf = (report: HostReport, name: string) => report.checks.find((check) => check.check === name)?.ok;

test('drift: each kind of drift fails its own check and only that one; CVEs matched against local tracker data', async (t) => {
  const names = Object.keys(hosts);
  const { result, read, summary } = await audit(
    t,
    names,
    { audit_cve_source: 'file://@TRACKER@/', audit_cve_fail_on_fixed: true, audit_cve_required: true },
    'audit_drift,audit_cve',
  );
  t.not(result.code, 0, describe(result));
  const expected: Record<string, Record<string, boolean>> = {
    clean: {
      [MANIFEST_CHECK]: true,
      [PACKAGES_CHECK]: true,
      [VERIFY_CHECK]: true,
      [BUNDLE_CHECK]: true,
      [KERNEL_CHECK]: true,
      [NODE_CHECK]: true,
      [FIXED_CHECK]: true,
    },
    'package-upgraded': { [PACKAGES_CHECK]: false, [VERIFY_CHECK]: true, [BUNDLE_CHECK]: true, [FIXED_CHECK]: false },
    'file-modified': { [PACKAGES_CHECK]: true, [VERIFY_CHECK]: false, [BUNDLE_CHECK]: true, [FIXED_CHECK]: true },
    'bundle-modified': { [PACKAGES_CHECK]: true, [VERIFY_CHECK]: true, [BUNDLE_CHECK]: false },
    'no-manifest': { [MANIFEST_CHECK]: false, [BUNDLE_CHECK]: false, [KERNEL_CHECK]: false, [NODE_CHECK]: false },
    'container-tree': { [KERNEL_CHECK]: true, [BUNDLE_CHECK]: true, [NODE_CHECK]: true },
    'container-tree-kernel-added': { [KERNEL_CHECK]: false, [BUNDLE_CHECK]: true },
  };
  for (const [name, checks] of Object.entries(expected)) {
    const report = await read(name);
    for (const [check, ok] of Object.entries(checks)) t.is(okOf(report, check), ok, `${name}: ${check}`);
  }
  const clean = await read('clean');
  t.deepEqual(
    clean.checks.filter((c) => !c.ok).map((c) => c.check),
    [],
    'the untouched host passes every check',
  );
  t.like(clean.drift, {
    packages_changed: [],
    files_modified_or_missing: [],
    conffiles_modified: [],
    kernel: 'installed',
  });
  t.deepEqual((await read('package-upgraded')).drift?.['packages_changed'], ['hello-fixture 1.0-1+b1 -> 1.0-2']);
  t.like((await read('file-modified')).drift, {
    files_modified_or_missing: ['/usr/bin/hello-fixture'],
    conffiles_modified: ['/etc/hello-fixture.conf'],
  });
  // CVE-2014-0160 is fixed in trixie at 3.5.1-1+deb13u1: the unpatched host has it, the patched ones do not.
  t.deepEqual((await read('package-upgraded')).cve?.fix_available, ['CVE-2014-0160']);
  t.is(clean.cve?.status, 'matched');
  t.deepEqual(clean.cve?.fix_available, []);
  t.deepEqual(
    clean.cve?.vulnerabilities.map((v) => `${v.cve} ${v.package}`),
    ['CVE-2099-0001 hello-fixture'],
  );
  const fleet = (await summary()) as {
    cve: { matched: string[]; fix_available: Record<string, string[]> };
    drift: Record<string, string[]>;
  };
  t.deepEqual(fleet.cve.matched.sort(), [...names].sort());
  t.deepEqual(fleet.cve.fix_available, { 'CVE-2014-0160': ['package-upgraded'] });
  t.deepEqual(Object.keys(fleet.drift).sort(), [
    'bundle-modified',
    'container-tree-kernel-added',
    'file-modified',
    'no-manifest',
    'package-upgraded',
  ]);
});

test('cve: without the tracker data the report says matching was not done and why; required makes it a failure', async (t) => {
  const { result, read, summary } = await audit(
    t,
    ['clean'],
    { audit_cve_source: 'http://127.0.0.1:9/', audit_cve_required: true },
    'audit_cve',
  );
  t.not(result.code, 0, describe(result));
  t.regex(
    result.stdout,
    /CVE MATCHING NOT DONE for \[''clean''\]: the tracker data could not be fetched\s+from http:\/\/127\.0\.0\.1:9\/trixie/,
  );
  const report = await read('clean');
  t.is(report.cve?.status, 'unavailable');
  t.regex(report.cve?.reason ?? '', /could not be fetched from http:\/\/127\.0\.0\.1:9\/trixie/);
  t.is(okOf(report, TRACKER_CHECK), false);
  t.deepEqual(
    report.checks.filter((c) => !c.ok).map((c) => c.check),
    [TRACKER_CHECK],
    'drift itself is clean',
  );
  const fleet = (await summary()) as { cve: { matched: string[]; unavailable: Record<string, string> } };
  t.deepEqual(fleet.cve.matched, []);
  t.deepEqual(Object.keys(fleet.cve.unavailable), ['clean']);
});
