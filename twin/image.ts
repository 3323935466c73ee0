// The sealed baked tree the twin's instances boot, baked by
// scripts/image-bake-local.sh (the one local bake path, the one image:test
// and CI use) from the app bundle CI built (IMAGE_BUNDLE) or, alone, from one
// the script builds. Kept per version under
// /var/lib/counter-api-twin/images/<version>/root and reused by every
// instance as the read-only lower layer of its overlay. A version is baked
// into `<version>.partial` and renamed when sealed, so a crashed bake never
// looks like an image; `bake.json` beside it records what it was baked from
// (the bundle's tree digest and the pins), and a cached tree is reused only
// when that still matches.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec, execOk } from './topology.js';

/** TWIN_STATE_DIR moves it (the unit tests use a temporary directory). */
export const TWIN_STATE_DIR = process.env.TWIN_STATE_DIR ?? '/var/lib/counter-api-twin';
export const IMAGES_DIR = path.join(TWIN_STATE_DIR, 'images');
export const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const scriptsDir = path.join(repoDir, 'scripts');
/** The bundle scripts/image-bake-local.sh bakes when IMAGE_BUNDLE is not set (its own default). */
export const DEFAULT_BUNDLE = path.join(repoDir, '.cache', 'image', 'counter-api-bundle.tar.gz');

export interface PackagePin {
  readonly name: string;
  readonly version: string;
}

export interface BakeOptions {
  /** Image name, written to /etc/counter-api-image as IMAGE_NAME (the instance's "image version"). */
  readonly version: string;
  /** Package versions held back by the bake (ansible runtime role: runtime_package_pins). */
  readonly pins?: readonly PackagePin[];
  readonly log?: (line: string) => void;
}

export interface BakedImage {
  readonly version: string;
  readonly root: string;
  /** Seconds the bake took, or 0 when the cached tree was reused. */
  readonly seconds: number;
  readonly cached: boolean;
}

/** Version names become directory and image names: keep them to a safe alphabet. */
export function checkVersion(version: string): void {
  if (!/^[a-z0-9][a-z0-9.-]{0,62}$/.test(version)) {
    throw new Error(`image version must match [a-z0-9][a-z0-9.-]{0,62}, got ${JSON.stringify(version)}`);
  }
}

export function imageRoot(version: string): string {
  checkVersion(version);
  return path.join(IMAGES_DIR, version, 'root');
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/** What a tree was baked from; a cached tree is reused only when its key still matches. */
export interface BakeRecord {
  /** sha256 over the bundle's deployed-tree digest and the pins (derived images keep their source's). */
  readonly key: string;
  readonly bundleTreeSha256: string;
  readonly pins: readonly PackagePin[];
  readonly bakedAt: string;
  readonly seconds: number;
  /** For a derived image: the image it was copied from and what changed. */
  readonly derivedFrom?: string;
  readonly change?: string;
}

/** The cache key of a bake: the app it carries (the bundle's deployed-tree digest) and the pins it applies. */
export function bakeKey(bundleTreeSha256: string, pins: readonly PackagePin[] = []): string {
  if (!/^[0-9a-f]{64}$/.test(bundleTreeSha256)) {
    throw new Error(`bundle tree digest must be 64 hex digits, got ${JSON.stringify(bundleTreeSha256)}`);
  }
  const sorted = [...pins].sort((x, y) => x.name.localeCompare(y.name)).map((p) => `${p.name}=${p.version}`);
  return createHash('sha256')
    .update(JSON.stringify({ bundle: bundleTreeSha256, pins: sorted }))
    .digest('hex');
}

export async function readBakeRecord(version: string): Promise<BakeRecord | undefined> {
  checkVersion(version);
  const file = path.join(IMAGES_DIR, version, 'bake.json');
  return fs.readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as BakeRecord,
    () => undefined,
  );
}

/**
 * The app bundle to bake and its deployed-tree digest: IMAGE_BUNDLE when set
 * (CI's artifact, never rebuilt here), else scripts/image-bundle.sh's default
 * path, built now (the bundle is reproducible, so an unchanged checkout gives
 * the same digest and the cached tree is reused).
 */
export function resolveBundle(log: (line: string) => void = () => undefined): Promise<{
  file: string;
  treeSha256: string;
}> {
  bundleOnce ??= buildOrReadBundle(log);
  return bundleOnce;
}

let bundleOnce: Promise<{ file: string; treeSha256: string }> | undefined;

async function buildOrReadBundle(log: (line: string) => void): Promise<{ file: string; treeSha256: string }> {
  const given = process.env.IMAGE_BUNDLE;
  const file = given ?? DEFAULT_BUNDLE;
  if (given === undefined) {
    log('app bundle: scripts/image-bundle.sh (IMAGE_BUNDLE not set)');
    await execOk('bash', [path.join(scriptsDir, 'image-bundle.sh'), file], { timeoutMs: 10 * 60_000 });
  } else if (!(await exists(given))) {
    throw new Error(`IMAGE_BUNDLE=${given} does not exist`);
  }
  const meta = JSON.parse(await fs.readFile(`${file}.json`, 'utf8').catch(() => '{}')) as { tree_sha256?: string };
  if (meta.tree_sha256 === undefined)
    throw new Error(`${file}.json has no tree_sha256 (made by scripts/image-bundle.sh)`);
  return { file, treeSha256: meta.tree_sha256 };
}

/** Whether `version` is a sealed tree whose bake record carries `key` (a tree without one is never reused). */
export async function cachedImage(version: string, key: string): Promise<boolean> {
  const record = await readBakeRecord(version);
  return record?.key === key && (await exists(path.join(IMAGES_DIR, version, 'sealed')));
}

/**
 * The baked tree of `version`, baking it first unless a sealed tree baked from
 * the same bundle and pins is cached (a derived image counts as cached when
 * its source was baked from them).
 */
export async function ensureImage(options: BakeOptions): Promise<BakedImage> {
  const log = options.log ?? (() => undefined);
  const root = imageRoot(options.version);
  const bundle = await resolveBundle(log);
  const key = bakeKey(bundle.treeSha256, options.pins);
  if (await cachedImage(options.version, key)) return { version: options.version, root, seconds: 0, cached: true };
  if (await exists(path.join(IMAGES_DIR, options.version))) {
    log(`image ${options.version}: the cached tree was baked from another bundle or pins (or unsealed); baking again`);
  }
  const started = Date.now();
  await bakeTree(options, bundle, key);
  return { version: options.version, root, seconds: (Date.now() - started) / 1000, cached: false };
}

/** The IMAGE_NAME etc. of a baked tree, from /etc/counter-api-image (the manifest the bake writes). */
export async function readManifest(root: string): Promise<Record<string, string>> {
  const text = await fs.readFile(path.join(root, 'etc/counter-api-image'), 'utf8');
  return Object.fromEntries(
    text
      .split('\n')
      .map((line) => /^([A-Z_]+)=(.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1] ?? '', (m[2] ?? '').replace(/^"|"$/g, '')]),
  );
}

async function chrootScript(action: 'mount' | 'umount' | 'remove', root: string): Promise<void> {
  await execOk('bash', [path.join(scriptsDir, 'image-chroot.sh'), action, root], { timeoutMs: 120_000 });
}

/**
 * Packages Google's debian-13 image has and the debootstrap tree lacks, which
 * the instance relies on: curl (the startup and shutdown scripts) and sudo
 * (the guest agent's google-sudoers). Packer starts from Google's image, so
 * they are there on GCP; the local bake adds them before bake.yml.
 */
export const GCE_BASE_PACKAGES = ['curl', 'sudo'] as const;

/** Installs GCE_BASE_PACKAGES into a root filesystem whose pseudo filesystems are mounted (also used by test/images/bake.test.ts). */
export async function installBasePackages(root: string): Promise<void> {
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' };
  await execOk('chroot', [root, 'apt-get', '-q', 'update'], { timeoutMs: 5 * 60_000, env });
  await execOk('chroot', [root, 'apt-get', '-q', '-y', '--no-install-recommends', 'install', ...GCE_BASE_PACKAGES], {
    timeoutMs: 5 * 60_000,
    env,
  });
}

/**
 * scripts/image-bake-local.sh in two calls: the root filesystem, then (after
 * the GCE base packages) bake.yml and seal.yml, into <version>.partial, then
 * renamed to <version>. The script's logs go beside the tree.
 */
async function bakeTree(
  options: BakeOptions,
  bundle: { file: string; treeSha256: string },
  key: string,
): Promise<void> {
  const log = options.log ?? (() => undefined);
  const final = path.join(IMAGES_DIR, options.version);
  const partial = `${final}.partial`;
  const root = path.join(partial, 'root');
  const started = Date.now();
  await chrootScript('remove', partial);
  await chrootScript('remove', final);
  await fs.mkdir(partial, { recursive: true });
  const script = path.join(scriptsDir, 'image-bake-local.sh');
  const env = (steps: string) => ({
    ...process.env,
    IMAGE_BUNDLE: bundle.file,
    IMAGE_BAKE_STEPS: steps,
    IMAGE_BAKE_KEEP: '1',
    IMAGE_BAKE_LOG_DIR: path.join(partial, 'logs'),
  });
  const pins = options.pins ?? [];
  const vars: Record<string, unknown> = {
    bake_image_name: options.version,
    bake_git_sha: (await exec('git', ['-C', repoDir, 'rev-parse', 'HEAD'])).stdout.trim() || 'unknown',
  };
  if (pins.length > 0) vars.bake_package_pins = pins.map((p) => ({ name: p.name, version: p.version }));
  log(`image ${options.version}: root filesystem (image-bake-local.sh rootfs)`);
  await execOk('bash', [script, root], { timeoutMs: 15 * 60_000, env: env('rootfs') });
  await chrootScript('mount', root);
  try {
    log(`image ${options.version}: GCE base image packages (${GCE_BASE_PACKAGES.join(', ')})`);
    await installBasePackages(root);
  } finally {
    await chrootScript('umount', root);
  }
  log(`image ${options.version}: bake.yml and seal.yml (image-bake-local.sh bake seal)`);
  await execOk('bash', [script, root, JSON.stringify(vars)], { timeoutMs: 40 * 60_000, env: env('bake seal') });
  const record: BakeRecord = {
    key,
    bundleTreeSha256: bundle.treeSha256,
    pins,
    bakedAt: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
  };
  await fs.writeFile(path.join(partial, 'bake.json'), `${JSON.stringify(record, null, 2)}\n`);
  await fs.writeFile(path.join(partial, 'sealed'), `${new Date().toISOString()}\n`);
  await fs.rename(partial, final);
}

/**
 * A second image without a second bake: a copy of a baked tree with its own
 * IMAGE_NAME (and a fresh seal time), optionally changed by `change` (which
 * edits the copy and says what it did, e.g. one package upgraded with apt).
 * Without a change it differs from the original only in its identity, which
 * is all the CI-sized roll needs to tell old from new. Always made afresh
 * from the current source; its bake record keeps the source's key, so
 * ensureImage reuses it exactly as long as it would reuse the source.
 */
export async function deriveImage(
  from: string,
  to: string,
  change?: (root: string) => Promise<string>,
): Promise<BakedImage> {
  checkVersion(to);
  if (to === from) throw new Error(`cannot derive ${to} from itself`);
  const started = Date.now();
  const sourceRecord = await readBakeRecord(from);
  const source = imageRoot(from);
  if (sourceRecord === undefined || !(await exists(path.join(IMAGES_DIR, from, 'sealed')))) {
    throw new Error(`image ${from} is not baked`);
  }
  const final = path.join(IMAGES_DIR, to);
  const partial = `${final}.partial`;
  await chrootScript('remove', partial);
  await chrootScript('remove', final);
  await fs.mkdir(partial, { recursive: true });
  const root = path.join(partial, 'root');
  await execOk('cp', ['-a', '--reflink=auto', source, root], { timeoutMs: 10 * 60_000 });
  const manifest = path.join(root, 'etc/counter-api-image');
  const text = await fs.readFile(manifest, 'utf8');
  await fs.writeFile(manifest, text.replace(/^IMAGE_NAME=.*$/m, `IMAGE_NAME=${to}`));
  const description = change === undefined ? 'IMAGE_NAME only' : await change(root);
  const record: BakeRecord = {
    ...sourceRecord,
    bakedAt: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    derivedFrom: from,
    change: description,
  };
  await fs.writeFile(path.join(partial, 'bake.json'), `${JSON.stringify(record, null, 2)}\n`);
  await fs.writeFile(path.join(partial, 'sealed'), `${new Date().toISOString()} derived from ${from}\n`);
  await fs.rename(partial, final);
  return { version: to, root: imageRoot(to), seconds: (Date.now() - started) / 1000, cached: false };
}

/** Deletes a cached image (never through a mount). */
export async function removeImage(version: string): Promise<void> {
  checkVersion(version);
  await chrootScript('remove', path.join(IMAGES_DIR, `${version}.partial`));
  await chrootScript('remove', path.join(IMAGES_DIR, version));
}

export async function listImages(): Promise<string[]> {
  const entries = await fs.readdir(IMAGES_DIR).catch(() => [] as string[]);
  const sealed: string[] = [];
  for (const entry of entries) {
    if (await exists(path.join(IMAGES_DIR, entry, 'sealed'))) sealed.push(entry);
  }
  return sealed.sort();
}

/**
 * The candidate versions of a package in a baked tree's apt sources, newest
 * first (apt-cache madison in a chroot; the tree's lists are refreshed in a
 * throwaway copy of /var/lib/apt so the sealed tree is not changed).
 */
export async function packageVersions(root: string, pkg: string): Promise<string[]> {
  await chrootScript('mount', root);
  try {
    const script = `set -e
      d=$(mktemp -d /tmp/apt-lists.XXXXXX)
      trap 'rm -rf "$d"' EXIT
      mkdir -p "$d/lists/partial"
      apt-get -q -o Dir::State::Lists="$d/lists" update >/dev/null
      apt-cache -o Dir::State::Lists="$d/lists" madison ${pkg}`;
    const out = await execOk('chroot', [root, '/bin/bash', '-c', script], { timeoutMs: 5 * 60_000 });
    return [...new Set(out.split('\n').map((line) => line.split('|')[1]?.trim() ?? ''))].filter(Boolean);
  } finally {
    await chrootScript('umount', root);
  }
}
