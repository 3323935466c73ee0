// The sealed baked tree the twin's instances boot: the same bake as
// `image:test` (cached debootstrap rootfs, ansible/bake.yml through the chroot
// connection, ansible/seal.yml), kept per version under
// /var/lib/counter-api-twin/images/<version>/root and reused by every
// instance as the read-only lower layer of its overlay. A version is baked
// into `<version>.partial` and renamed when sealed, so a crashed bake never
// looks like an image. One function (bakeTree) does the bake, so it can call
// scripts/image-bake-local.sh once that exists.

import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec, execOk } from './topology.js';

export const TWIN_STATE_DIR = '/var/lib/counter-api-twin';
export const IMAGES_DIR = path.join(TWIN_STATE_DIR, 'images');
export const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const scriptsDir = path.join(repoDir, 'scripts');
const ansibleDir = path.join(repoDir, 'ansible');
/** The pre-warmed debootstrap tarball (scripts/image-rootfs.sh's cache). */
const IMAGE_CACHE_DIR = process.env.IMAGE_CACHE_DIR ?? '/var/cache/counter-api-image';

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

/** The baked tree of `version`, baking it first unless it is already cached. */
export async function ensureImage(options: BakeOptions): Promise<BakedImage> {
  const root = imageRoot(options.version);
  if (await exists(path.join(IMAGES_DIR, options.version, 'sealed'))) {
    return { version: options.version, root, seconds: 0, cached: true };
  }
  const started = Date.now();
  await bakeTree(options);
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

function ansibleEnv(root: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ANSIBLE_CONFIG: path.join(ansibleDir, 'ansible.cfg'),
    ANSIBLE_NOCOLOR: '1',
    IMAGE_ROOTFS: root,
  };
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

async function installBasePackages(root: string): Promise<void> {
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' };
  await execOk('chroot', [root, 'apt-get', '-q', 'update'], { timeoutMs: 5 * 60_000, env });
  await execOk('chroot', [root, 'apt-get', '-q', '-y', '--no-install-recommends', 'install', ...GCE_BASE_PACKAGES], {
    timeoutMs: 5 * 60_000,
    env,
  });
}

/** rootfs -> base packages -> bake.yml -> seal.yml into <version>.partial, then renamed to <version>. */
async function bakeTree(options: BakeOptions): Promise<void> {
  const log = options.log ?? (() => undefined);
  const final = path.join(IMAGES_DIR, options.version);
  const partial = `${final}.partial`;
  const root = path.join(partial, 'root');
  await chrootScript('remove', partial);
  await fs.rm(final, { recursive: true, force: true });
  await fs.mkdir(partial, { recursive: true });
  const bundle = path.join(partial, 'counter-api-bundle.tar.gz');
  log(`image ${options.version}: bundling the app`);
  await execOk('bash', [path.join(scriptsDir, 'image-bundle.sh'), bundle], { timeoutMs: 10 * 60_000 });
  log(`image ${options.version}: root filesystem`);
  await execOk('bash', [path.join(scriptsDir, 'image-rootfs.sh'), root], {
    timeoutMs: 10 * 60_000,
    env: { ...process.env, IMAGE_CACHE_DIR },
  });
  await chrootScript('mount', root);
  try {
    log(`image ${options.version}: GCE base image packages (${GCE_BASE_PACKAGES.join(', ')})`);
    await installBasePackages(root);
    const vars: Record<string, unknown> = {
      bake_app_bundle: bundle,
      bake_image_name: options.version,
      bake_git_sha: (await exec('git', ['-C', repoDir, 'rev-parse', 'HEAD'])).stdout.trim() || 'unknown',
    };
    if (options.pins !== undefined && options.pins.length > 0) {
      vars.runtime_package_pins = options.pins.map((p) => ({ name: p.name, version: p.version }));
    }
    for (const playbook of ['bake.yml', 'seal.yml']) {
      log(`image ${options.version}: ${playbook}`);
      const result = await exec(
        'ansible-playbook',
        ['-i', 'inventories/local', playbook, '--extra-vars', JSON.stringify(vars)],
        { timeoutMs: 20 * 60_000, env: ansibleEnv(root), cwd: ansibleDir },
      );
      await fs.writeFile(path.join(partial, `${playbook}.log`), `${result.stdout}\n${result.stderr}`);
      if (result.code !== 0) {
        throw new Error(`${playbook} failed (exit ${result.code}); log: ${path.join(final, `${playbook}.log`)}`);
      }
    }
  } finally {
    await chrootScript('umount', root);
  }
  await fs.rm(bundle, { force: true });
  await fs.writeFile(path.join(partial, 'sealed'), `${new Date().toISOString()}\n`);
  await fs.rename(partial, final);
}

/**
 * A second image without a second bake, for the CI-sized roll: a copy of a
 * baked tree with its own IMAGE_NAME (and a fresh seal time). It differs from
 * the original only in its identity, which is all a roll needs to tell old
 * from new; the full-size drill bakes for real.
 */
export async function deriveImage(from: string, to: string): Promise<BakedImage> {
  const started = Date.now();
  const source = await ensureImage({ version: from });
  const final = path.join(IMAGES_DIR, to);
  if (await exists(path.join(final, 'sealed'))) return { version: to, root: imageRoot(to), seconds: 0, cached: true };
  const partial = `${final}.partial`;
  await chrootScript('remove', partial);
  await fs.mkdir(partial, { recursive: true });
  await execOk('cp', ['-a', '--reflink=auto', source.root, path.join(partial, 'root')], { timeoutMs: 10 * 60_000 });
  const manifest = path.join(partial, 'root', 'etc/counter-api-image');
  const text = await fs.readFile(manifest, 'utf8');
  await fs.writeFile(manifest, text.replace(/^IMAGE_NAME=.*$/m, `IMAGE_NAME=${to}`));
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
