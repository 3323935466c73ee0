// The `patch` drill's images and its compliance verdict. A "vulnerable" and
// a "fixed" image that differ by a real Debian package version: the
// candidate versions of the package (libssl3t64, with openssl from the same
// source) are looked up when the drill runs, in the baked tree's own apt
// sources (apt-cache madison); the newest is the fix, the one before it the
// vulnerable build. Both are derived from the baked image rather than baked
// twice: a copy of the tree gets exactly these packages at exactly that
// version with apt (install, hold, check, as the runtime role's pins do),
// so the two images differ in those packages and their IMAGE_NAME only.

import fs from 'node:fs/promises';
import path from 'node:path';
import { deriveImage, imageRoot, packageVersions, type BakedImage } from './image.js';
import { exec, execOk } from './topology.js';

/** The packages the patch moves (one Debian source, openssl). libssl3t64 decides the versions. */
export const PATCH_PACKAGES = ['libssl3t64', 'openssl'] as const;
export const VULNERABLE_IMAGE = 'patch-vulnerable';
export const FIXED_IMAGE = 'patch-fixed';

export interface PatchVersions {
  readonly vulnerable: string;
  readonly fixed: string;
  /** Every candidate found, newest first. */
  readonly candidates: readonly string[];
}

/** Debian's version ordering (dpkg --compare-versions), newest first. */
export async function sortVersionsNewestFirst(versions: readonly string[]): Promise<string[]> {
  const out = [...new Set(versions)];
  // Insertion sort: a few candidates, one dpkg call per comparison.
  for (let i = 1; i < out.length; i++) {
    for (let j = i; j > 0; j--) {
      const newer = (await exec('dpkg', ['--compare-versions', out[j] ?? '', 'gt', out[j - 1] ?? ''])).code === 0;
      if (!newer) break;
      [out[j - 1], out[j]] = [out[j] ?? '', out[j - 1] ?? ''];
    }
  }
  return out;
}

/** The fix is the newest candidate, the vulnerable build the one before it; fewer than two is an error. */
export function choosePatchVersions(newestFirst: readonly string[]): PatchVersions {
  const [fixed, vulnerable] = newestFirst;
  if (fixed === undefined || vulnerable === undefined) {
    throw new Error(
      `the patch drill needs two candidate versions of ${PATCH_PACKAGES[0]} (a fix and the build before it); the archives offer ${JSON.stringify(newestFirst)}`,
    );
  }
  return { vulnerable, fixed, candidates: newestFirst };
}

/** Looks the versions up in the tree's apt sources; every patched package must offer both. */
export async function lookUpPatchVersions(root: string): Promise<PatchVersions> {
  const chosen = choosePatchVersions(await sortVersionsNewestFirst(await packageVersions(root, PATCH_PACKAGES[0])));
  for (const pkg of PATCH_PACKAGES.slice(1)) {
    const offered = await packageVersions(root, pkg);
    for (const v of [chosen.vulnerable, chosen.fixed]) {
      if (!offered.includes(v)) throw new Error(`${pkg} ${v} is not in the archives (offered: ${offered.join(', ')})`);
    }
  }
  return chosen;
}

const CHROOT_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' };

/**
 * Installs exactly `version` of the patched packages in a tree (downgrading
 * if needed), holds them when `hold`, and checks what dpkg reports. apt's
 * lists live in a throwaway directory and its downloads are cleaned, so the
 * tree keeps no more than the packages; no service is started (policy-rc.d).
 */
export async function setPackagesInTree(root: string, version: string, hold: boolean): Promise<string> {
  const scripts = path.resolve(import.meta.dirname, '..', 'scripts');
  const wanted = PATCH_PACKAGES.map((p) => `${p}=${version}`).join(' ');
  const script = `set -e
    d=$(mktemp -d /tmp/apt-lists.XXXXXX)
    trap 'rm -rf "$d"; rm -f /usr/sbin/policy-rc.d; apt-get clean' EXIT
    printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    mkdir -p "$d/lists/partial"
    o="-o Dir::State::Lists=$d/lists"
    apt-get -q $o update >/dev/null
    apt-mark unhold ${PATCH_PACKAGES.join(' ')} >/dev/null
    apt-get -q -y $o --no-install-recommends --allow-downgrades --allow-change-held-packages install ${wanted} >/dev/null
    ${hold ? `apt-mark hold ${PATCH_PACKAGES.join(' ')} >/dev/null` : 'true'}
    dpkg-query -W -f '\${Package} \${Version} \${db:Status-Abbrev}\\n' ${PATCH_PACKAGES.join(' ')}`;
  await execOk('bash', [path.join(scripts, 'image-chroot.sh'), 'mount', root], { timeoutMs: 120_000 });
  try {
    const out = await execOk('chroot', [root, '/bin/bash', '-c', script], { timeoutMs: 10 * 60_000, env: CHROOT_ENV });
    const lines = out.trim().split('\n');
    for (const pkg of PATCH_PACKAGES) {
      const line = lines.find((l) => l.startsWith(`${pkg} `)) ?? '';
      const [, installed, status] = line.trim().split(/\s+/);
      if (installed !== version || status !== (hold ? 'hi' : 'ii')) {
        throw new Error(`${pkg}: wanted ${version} ${hold ? 'held' : 'installed'}, dpkg says "${line}"`);
      }
    }
    return `${PATCH_PACKAGES.join(', ')} ${version}${hold ? ' (held)' : ''}`;
  } finally {
    await execOk('bash', [path.join(scripts, 'image-chroot.sh'), 'umount', root], { timeoutMs: 120_000 });
  }
}

/**
 * The vulnerable image: a copy of `base` with the patched packages at the
 * older version, held. The versions are looked up in the copy (never in the
 * sealed tree the fleet may be running) and kept beside the image (patch.json).
 */
export async function deriveVulnerable(base: string): Promise<{ image: BakedImage; versions: PatchVersions }> {
  let versions: PatchVersions | undefined;
  const image = await deriveImage(base, VULNERABLE_IMAGE, async (root) => {
    versions = await lookUpPatchVersions(root);
    await fs.writeFile(path.join(path.dirname(root), 'patch.json'), `${JSON.stringify(versions, null, 2)}\n`);
    return setPackagesInTree(root, versions.vulnerable, true);
  });
  if (versions === undefined) throw new Error('no patch versions');
  return { image, versions };
}

/** The versions the vulnerable image was made with (undefined if it was not made by deriveVulnerable). */
export async function readPatchVersions(): Promise<PatchVersions | undefined> {
  const file = path.join(path.dirname(imageRoot(VULNERABLE_IMAGE)), 'patch.json');
  return fs.readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as PatchVersions,
    () => undefined,
  );
}

/** The fixed image: a copy of the vulnerable one with exactly the patched packages upgraded to the fix. */
export async function deriveFixed(versions: PatchVersions): Promise<BakedImage> {
  return deriveImage(VULNERABLE_IMAGE, FIXED_IMAGE, (root) => setPackagesInTree(root, versions.fixed, false));
}

/** A host's audit report as audit-report.yml writes it (the fields the verdict reads). */
export interface HostAudit {
  readonly checks?: readonly { readonly topic?: string; readonly check?: string; readonly ok?: boolean }[];
}

/**
 * The audit's own verdict per host on the patch: compliant when, for every
 * patched package, the package check against `minVersion` ran and passed
 * (audit-packages.yml's "<package> >= <minimum>"). A host whose check is
 * missing (package absent, audit failed early) is not compliant.
 */
export function patchCompliance(
  hosts: Readonly<Record<string, HostAudit>>,
  minVersion: string,
  packages: readonly string[] = PATCH_PACKAGES,
): { compliant: string[]; nonCompliant: string[] } {
  const compliant: string[] = [];
  const nonCompliant: string[] = [];
  for (const [host, report] of Object.entries(hosts).sort(([a], [b]) => a.localeCompare(b))) {
    const ok = packages.every((pkg) =>
      (report.checks ?? []).some(
        (c) => c.topic === 'packages' && c.check === `${pkg} >= ${minVersion}` && c.ok === true,
      ),
    );
    (ok ? compliant : nonCompliant).push(host);
  }
  return { compliant, nonCompliant };
}

/** Reads the version the tree has installed (for the report). */
export async function installedVersion(root: string, pkg: string): Promise<string> {
  const status = await fs.readFile(path.join(root, 'var/lib/dpkg/status'), 'utf8');
  const block = status.split('\n\n').find((b) => new RegExp(`^Package: ${pkg}$`, 'm').test(b)) ?? '';
  return /^Version: (.*)$/m.exec(block)?.[1] ?? 'not installed';
}
