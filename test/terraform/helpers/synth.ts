// Test helpers: build every stack of an environment in memory (cdktf's
// Testing app, no files, no credentials) and read the Terraform JSON back as
// plain data, so each policy test asserts on exactly what terraform would get.

import { readFileSync } from 'node:fs';
import { Testing } from 'cdktf';
import { buildStacks } from '../../../terraform/app.js';
import { parseConfig } from '../../../terraform/config-parse.js';
import type { InfraConfig, Release } from '../../../terraform/config-schema.js';

export type Block = Readonly<Record<string, unknown>>;
export interface TfJson {
  readonly resource?: Record<string, Record<string, Block>>;
  readonly data?: Record<string, Record<string, Block>>;
  readonly provider?: Record<string, Block[]>;
  readonly terraform?: Block;
  readonly output?: Record<string, Block>;
}
export type Layer = 'base' | 'fleet' | 'edge' | 'ops';
export type Synth = Readonly<Record<Layer, TfJson>>;
export const LAYERS: readonly Layer[] = ['base', 'fleet', 'edge', 'ops'];

const envFile = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../../../terraform/envs/${name}`, import.meta.url), 'utf8'));
export const PROD_FILE = envFile('prod.json') as Record<string, unknown>;
export const PROD_RELEASE = envFile('prod.release.json') as Release;

/** The project every test synthesizes for (the files carry none: GCP_PROJECT is required). */
export const TEST_PROJECT = 'counter-api-prod';

/** The committed prod environment (two regions, DR replica), optionally with keys of the file or the release replaced. */
export function prodConfig(patch: { file?: Record<string, unknown>; release?: Release } = {}): InfraConfig {
  return parseConfig({
    env: 'prod',
    file: { ...PROD_FILE, ...patch.file },
    release: patch.release ?? PROD_RELEASE,
    overrides: { project: TEST_PROJECT },
  });
}

/** The prod file cut to its first region and no replica: the single-region profile, same names. */
export function oneRegionConfig(patch: { file?: Record<string, unknown>; release?: Release } = {}): InfraConfig {
  const [first] = PROD_FILE['regions'] as unknown[];
  return prodConfig({
    ...patch,
    file: {
      regions: [first],
      database: { ...(PROD_FILE['database'] as object), replicaRegion: null },
      ...patch.file,
    },
  });
}

/** The committed prod environment: two regions. */
export function twoRegionConfig(): InfraConfig {
  return prodConfig();
}

export function synth(config: InfraConfig): Synth {
  const stacks = buildStacks(Testing.app(), config);
  const json = (layer: Layer) => JSON.parse(Testing.synth(stacks[layer])) as TfJson;
  return { base: json('base'), fleet: json('fleet'), edge: json('edge'), ops: json('ops') };
}

/** The blocks of one resource type in one stack, or in every stack. */
export function resources(from: TfJson | Synth, type: string): Block[] {
  const stacks = 'base' in from ? LAYERS.map((l) => from[l]) : [from];
  return stacks.flatMap((s) => Object.values(s.resource?.[type] ?? {}));
}

export function one(from: TfJson | Synth, type: string): Block {
  const found = resources(from, type);
  if (found.length !== 1) throw new Error(`expected exactly one ${type}, found ${found.length}`);
  return found[0] as Block;
}

/** Value at a dotted path ("update_policy.max_surge_fixed", "version.1.target_size"). */
export function at(value: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>(
      (v, key) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined),
      value,
    );
}

export function num(value: unknown): number {
  if (typeof value !== 'number') throw new Error(`expected a number, got ${JSON.stringify(value)}`);
  return value;
}

export function list(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new Error(`expected a list, got ${JSON.stringify(value)}`);
  return value;
}

/** Terraform address of a resource block of a stack: type.name. */
export function addressOf(stack: TfJson, type: string, block: Block): string {
  const entry = Object.entries(stack.resource?.[type] ?? {}).find(([, b]) => b === block);
  if (entry === undefined) throw new Error(`block is not a ${type} of this stack`);
  return `${type}.${entry[0]}`;
}

/** Reference expression of a block's attribute, as it appears in the JSON: ${type.name.attr}. */
export function refTo(stack: TfJson, type: string, block: Block, attribute: string): string {
  return `\${${addressOf(stack, type, block)}.${attribute}}`;
}
