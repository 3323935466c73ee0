// Snapshots of every synthesized stack (prod with its two regions, prod cut
// to one region, and prod with a canary), minus cdktf's volatile metadata. A change to any resource
// shows up as a reviewable diff in test/terraform/snapshots/; update them
// deliberately with `npx ava test/terraform/snapshot.test.ts --update-snapshots`.

import test from 'ava';
import { LAYERS, oneRegionConfig, prodConfig, synth, type Layer, type Synth } from './helpers/synth.js';

/** Drops cdktf's "//" metadata (paths, versions, stack traces) at any depth. */
function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => k !== '//')
      .map(([k, v]) => [k, stable(v)]),
  );
}

const canary = {
  image: 'counter-api-3f9c2a1b4d5e-20261129t101500',
  canary: { image: 'counter-api-8d0e7c6b5a49-20261201t090000', size: '10%' },
};
const variants: [string, Synth, readonly Layer[]][] = [
  ['prod', synth(prodConfig()), LAYERS],
  ['prod, one region', synth(oneRegionConfig()), LAYERS],
  ['prod, canary 10%', synth(prodConfig({ release: canary })), ['fleet']],
];

for (const [variant, stacks, layers] of variants) {
  for (const layer of layers) {
    test(`snapshot: ${layer}-prod (${variant})`, (t) => {
      t.snapshot(stable(stacks[layer]));
    });
  }
}

test('snapshot: metadata stripping removes "//" keys at every depth and nothing else', (t) => {
  t.deepEqual(stable({ '//': 1, a: [{ '//': 2, b: 3 }], c: { '//': {}, d: null } }), { a: [{ b: 3 }], c: { d: null } });
});
