// The twin's image cache: a cached tree is reused only when it was baked from
// the same app bundle (its deployed-tree digest) and the same package pins;
// a tree from another bundle, one without a bake record (made before records
// existed) or one not sealed is baked again, so the twin never boots
// yesterday's app. No root needed: the state directory is a temporary one.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';

const state = await fs.mkdtemp(path.join(os.tmpdir(), 'twin-image-cache-'));
process.env.TWIN_STATE_DIR = state;
const { bakeKey, cachedImage, IMAGES_DIR } = await import('../../twin/image.js');

const BUNDLE_A = 'a'.repeat(64);
const BUNDLE_B = 'b'.repeat(64);
const OPENSSL = [{ name: 'openssl', version: '3.5.7-1~deb13u3' }];

async function image(version: string, record: object | undefined, sealed = true): Promise<void> {
  const dir = path.join(IMAGES_DIR, version);
  await fs.mkdir(path.join(dir, 'root', 'etc'), { recursive: true });
  if (sealed) await fs.writeFile(path.join(dir, 'sealed'), 'now\n');
  if (record !== undefined) await fs.writeFile(path.join(dir, 'bake.json'), JSON.stringify(record));
}

test.after.always(async () => {
  await fs.rm(state, { recursive: true, force: true });
});

test('bakeKey: depends on the bundle and the pins, not on the order of the pins', (t) => {
  const pins = [
    { name: 'openssl', version: '1' },
    { name: 'libssl3t64', version: '1' },
  ];
  t.is(bakeKey(BUNDLE_A, pins), bakeKey(BUNDLE_A, [...pins].reverse()));
  t.not(bakeKey(BUNDLE_A), bakeKey(BUNDLE_B));
  t.not(bakeKey(BUNDLE_A), bakeKey(BUNDLE_A, OPENSSL));
  t.not(bakeKey(BUNDLE_A, OPENSSL), bakeKey(BUNDLE_A, [{ name: 'openssl', version: '3.5.9-1~deb13u1' }]));
  t.throws(() => bakeKey('not-a-digest'), { message: /64 hex digits/ });
});

test('cachedImage: a sealed tree baked from the same bundle and pins is reused', async (t) => {
  await image('same', { key: bakeKey(BUNDLE_A, OPENSSL) });
  t.true(await cachedImage('same', bakeKey(BUNDLE_A, OPENSSL)));
});

test('cachedImage: a tree baked from another bundle, or with other pins, is not reused', async (t) => {
  await image('other', { key: bakeKey(BUNDLE_B) });
  t.false(await cachedImage('other', bakeKey(BUNDLE_A)));
  t.false(await cachedImage('other', bakeKey(BUNDLE_B, OPENSSL)));
});

test('cachedImage: a sealed tree without a bake record (an older cache) is not reused', async (t) => {
  await image('unrecorded', undefined);
  t.false(await cachedImage('unrecorded', bakeKey(BUNDLE_A)));
});

test('cachedImage: an unsealed tree is not reused, nor a missing one', async (t) => {
  await image('unsealed', { key: bakeKey(BUNDLE_A) }, false);
  t.false(await cachedImage('unsealed', bakeKey(BUNDLE_A)));
  t.false(await cachedImage('missing', bakeKey(BUNDLE_A)));
});
