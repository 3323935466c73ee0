// Structure: stacks by layer and environment, each with its own GCS state,
// pinned provider and labels; the JSON that `npm run infra:synth` writes is
// valid, and every ${...} reference in a stack resolves inside that stack,
// because plain terraform plans one stack directory at a time.

import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize } from '../../terraform/app.js';
import { at, LAYERS, oneRegionConfig, synth, twoRegionConfig, type TfJson } from './helpers/synth.js';

const config = oneRegionConfig();
const all = synth(config);

/** Every ${...} interpolation in a JSON document (a `$${` escape is literal text and skipped). */
function references(json: string): string[] {
  return [...json.matchAll(/(?<!\$)\$\{([^}]*)\}/g)].map((m) => m[1] ?? '');
}

function declared(stack: TfJson): Set<string> {
  const names = new Set<string>();
  for (const [type, blocks] of Object.entries(stack.resource ?? {}))
    for (const name of Object.keys(blocks)) names.add(`${type}.${name}`);
  for (const [type, blocks] of Object.entries(stack.data ?? {}))
    for (const name of Object.keys(blocks)) names.add(`data.${type}.${name}`);
  return names;
}

function unresolved(stack: TfJson): string[] {
  const known = declared(stack);
  return references(JSON.stringify(stack)).filter((ref) => {
    const [first = '', second = '', third = ''] = ref.split(/[.[]/);
    return !known.has(first === 'data' ? `data.${second}.${third}` : `${first}.${second}`);
  });
}

test('stacks: one per layer, named <layer>-<env>, each with its own state prefix in the configured bucket', (t) => {
  const prefixes = LAYERS.map((layer) => {
    t.is(at(all[layer].terraform, 'backend.gcs.bucket'), config.stateBucket);
    return at(all[layer].terraform, 'backend.gcs.prefix');
  });
  t.deepEqual(
    prefixes,
    LAYERS.map((l) => `${config.prefix}/${l}`),
  );
});

test('stacks: pin the google provider exactly and label every resource through default_labels', (t) => {
  for (const layer of LAYERS) {
    t.deepEqual(at(all[layer].terraform, 'required_providers.google'), {
      source: 'hashicorp/google',
      version: '6.50.0',
    });
    const provider = all[layer].provider?.['google']?.[0];
    t.is(at(provider, 'project'), config.project);
    t.like(at(provider, 'default_labels'), { app: 'counter-api', env: 'prod', managed_by: 'cdktf', layer });
  }
});

test('stacks: every ${...} reference resolves to a resource or data source of the same stack', (t) => {
  for (const s of [all, synth(twoRegionConfig())]) {
    for (const layer of LAYERS) {
      t.true(references(JSON.stringify(s[layer])).length > 0, layer);
      t.deepEqual(unresolved(s[layer]), [], layer);
    }
  }
});

test('stacks: the reference check itself catches a dangling reference', (t) => {
  const broken: TfJson = {
    resource: { google_compute_network: { vpc: { name: '${google_compute_subnetwork.gone.name}' } } },
  };
  t.deepEqual(unresolved(broken), ['google_compute_subnetwork.gone.name']);
  t.deepEqual(references('"a $${literal} b ${x.y.z}"'), ['x.y.z']);
});

test('synth: writes valid cdk.tf.json for every stack, with the same content as the in-memory synth', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cdktf-'));
  try {
    const stacks = synthesize(config, dir);
    t.deepEqual(
      stacks,
      LAYERS.map((l) => `${l}-prod`),
    );
    for (const layer of LAYERS) {
      const json = JSON.parse(readFileSync(join(dir, 'stacks', `${layer}-prod`, 'cdk.tf.json'), 'utf8')) as TfJson;
      t.deepEqual(unresolved(json), []);
      t.deepEqual(Object.keys(json.resource ?? {}).sort(), Object.keys(all[layer].resource ?? {}).sort());
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
