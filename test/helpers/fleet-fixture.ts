// A host's file system in miniature, for running the fleet audits against
// localhost without a chroot: a dpkg database of two packages (one of them
// libssl3t64 from openssl, so CVE matching has something real to match), the
// app bundle, the bake manifest and package list exactly as the bake writes
// them, the image release file and a kernel. Also: the bundle hash computed
// independently of the audit's shell pipeline, a Debian security tracker data
// file for debsecan, and a static inventory that reaches the host locally.

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';

export const BUNDLE_DIR = '/opt/counter-api';
export const MANIFEST_DIR = '/usr/local/share/counter-api';

export interface FixturePackage {
  readonly name: string;
  readonly version: string;
  readonly source: string;
  readonly sourceVersion: string;
  /** Packaged files: path → content. */
  readonly files: Readonly<Record<string, string>>;
  readonly conffiles?: Readonly<Record<string, string>>;
}

export const PACKAGES: readonly FixturePackage[] = [
  {
    name: 'libssl3t64',
    version: '3.5.1-1',
    source: 'openssl',
    sourceVersion: '3.5.1-1',
    files: { '/usr/lib/x86_64-linux-gnu/libssl.so.3': 'libssl 3.5.1-1\n' },
  },
  {
    name: 'hello-fixture',
    version: '1.0-1+b1',
    source: 'hello-src',
    sourceVersion: '1.0-1',
    files: { '/usr/bin/hello-fixture': '#!/bin/sh\necho hello\n' },
    conffiles: { '/etc/hello-fixture.conf': 'greeting=hello\n' },
  },
];

const md5 = (text: string) => createHash('md5').update(text).digest('hex');
const put = (root: string, file: string, content: string) => {
  mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  writeFileSync(path.join(root, file), content);
};

export interface HostRootOptions {
  readonly image: string;
  /** null: a tree baked for a container, with no kernel (the manifest says null). */
  readonly kernel: string | null;
  readonly nodeVersion: string;
  /** Installed versions that differ from PACKAGES (binary and source alike), e.g. a patched libssl. */
  readonly versions?: Readonly<Record<string, string>>;
}

/** Lays out the host's tree under root and returns the manifest it recorded. */
export function makeHostRoot(root: string, options: HostRootOptions): Record<string, string | null> {
  const status: string[] = [];
  const packages = PACKAGES.map((pkg) => {
    const version = options.versions?.[pkg.name];
    return version === undefined ? pkg : { ...pkg, version, sourceVersion: version };
  });
  for (const pkg of packages) {
    const all = { ...pkg.files, ...pkg.conffiles };
    for (const [file, content] of Object.entries(all)) put(root, file, content);
    const conffiles = Object.entries(pkg.conffiles ?? {}).map(([file, content]) => ` ${file} ${md5(content)}`);
    status.push(
      [
        `Package: ${pkg.name}`,
        'Status: install ok installed',
        'Priority: optional',
        'Maintainer: Nobody <nobody@example.com>',
        'Architecture: amd64',
        `Source: ${pkg.source} (${pkg.sourceVersion})`,
        `Version: ${pkg.version}`,
        ...(conffiles.length > 0 ? ['Conffiles:', ...conffiles] : []),
        `Description: ${pkg.name} fixture`,
        '',
      ].join('\n'),
    );
    put(root, `/var/lib/dpkg/info/${pkg.name}.list`, `${Object.keys(all).join('\n')}\n`);
    const sums = Object.entries(pkg.files).map(([file, content]) => `${md5(content)}  ${file.slice(1)}`);
    put(root, `/var/lib/dpkg/info/${pkg.name}.md5sums`, `${sums.join('\n')}\n`);
  }
  put(root, '/var/lib/dpkg/status', `${status.join('\n')}\n`);
  mkdirSync(path.join(root, 'var/lib/dpkg/updates'), { recursive: true });

  put(root, `${BUNDLE_DIR}/dist/server/main.js`, 'console.log("counter-api");\n');
  put(root, `${BUNDLE_DIR}/package.json`, '{"name":"counter-api"}\n');
  put(root, `${BUNDLE_DIR}/node_modules/pg/index.js`, 'module.exports = {};\n');
  if (options.kernel !== null) put(root, `/boot/vmlinuz-${options.kernel}`, 'kernel\n');
  put(root, '/etc/counter-api-image', `IMAGE_NAME=${options.image}\nGIT_SHA=0123456789ab\n`);

  const tsv = packages
    .map((pkg) => `${pkg.name}\t${pkg.version}\tamd64`)
    .sort()
    .join('\n');
  put(root, `${MANIFEST_DIR}/packages.tsv`, `${tsv}\n`);
  const manifest = {
    image_version: options.image,
    git_sha: '0123456789ab',
    built_at: '2026-11-29T07:00:00Z',
    bundle_sha256: bundleSha256(root, BUNDLE_DIR),
    bundle_dir: BUNDLE_DIR,
    node_version: options.nodeVersion,
    kernel_release: options.kernel,
    packages_file: `${MANIFEST_DIR}/packages.tsv`,
  };
  put(root, `${MANIFEST_DIR}/image-manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

function regularFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return regularFiles(full);
    return entry.isFile() && statSync(full).isFile() ? [full] : [];
  });
}

/** The bake's rule in Node: sha256 of the byte-sorted `sha256sum` lines, paths as the host sees them. */
export function bundleSha256(root: string, bundleDir: string): string {
  const lines = regularFiles(path.join(root, bundleDir))
    .map((file) => `/${path.relative(root, file)}`)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map(
      (file) =>
        `${createHash('sha256')
          .update(readFileSync(path.join(root, file)))
          .digest('hex')}  ${file}\n`,
    );
  return createHash('sha256').update(lines.join('')).digest('hex');
}

/**
 * debsecan's data file (security-tracker.debian.org/tracker/debsecan/release/1/<suite>):
 * zlib-compressed "VERSION 1", vulnerability names, per-package records, source → binaries.
 * CVE-2014-0160 is fixed in openssl 3.5.1-1+deb13u1 for the suite; CVE-2099-0001 has no fix.
 */
export function writeTrackerData(dir: string, suite: string): void {
  const text = [
    'VERSION 1',
    'CVE-2014-0160,,TLS heartbeat read overrun (Heartbleed)',
    'CVE-2099-0001,,Hello fixture prints too cheerfully',
    '',
    'openssl,0,SHRF,3.5.4-1,3.5.1-1+deb13u1',
    'hello-src,1, L  ,,',
    '',
    'openssl,libssl3t64 openssl',
    'hello-src,hello-fixture',
    '',
  ].join('\n');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, suite), deflateSync(Buffer.from(text)));
}

/** A static inventory: one counter_api host reached with the local connection, reading `root`. */
export function writeLocalInventory(file: string, host: string, vars: Readonly<Record<string, unknown>>): void {
  const hostVars = { ansible_connection: 'local', ansible_python_interpreter: '/usr/bin/python3', ...vars };
  writeFileSync(file, JSON.stringify({ counter_api: { hosts: { [host]: hostVars } } }, null, 2));
}
