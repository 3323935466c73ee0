// The only module of the CDKTF app that reads process.env or the environment
// files. Everything else receives an InfraConfig, so tests build stacks from
// an in-memory config and the synth behaves the same on a laptop and in CI.
//
// An environment is two committed files in terraform/envs/: <env>.json (the
// shape of the deployment) and <env>.release.json (the image pin that
// `npm run infra:roll` rewrites). A few variables override the file so the
// same files synthesize for any project without edits.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { InfraConfig, Release } from './config-schema.js';
import { InfraConfigError } from './config-schema.js';
import { parseConfig, parseRelease } from './config-parse.js';

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULT_ENVS_DIR = fileURLToPath(new URL('./envs/', import.meta.url));

/** Folder of the environment files; INFRA_ENVS_DIR points elsewhere (tests, a private repo of environments). */
export function envsDir(env: Env = process.env): string {
  const dir = env['INFRA_ENVS_DIR']?.trim();
  return dir ? `${dir.replace(/\/+$/, '')}/` : DEFAULT_ENVS_DIR;
}

/** Environment variable → key of <env>.json that it replaces. */
export const OVERRIDES: Readonly<Record<string, string>> = {
  // Required: the environment files carry no project, so nothing plans against a placeholder.
  GCP_PROJECT: 'project',
  INFRA_PREFIX: 'prefix',
  INFRA_DOMAIN: 'domain',
  INFRA_ALERT_EMAIL: 'alertEmail',
  INFRA_STATE_BUCKET: 'stateBucket',
  INFRA_IMAGE_PROJECT: 'imageProject',
  INFRA_PIPELINE_REPO: 'pipelineRepo',
};

export function environmentName(env: Env = process.env): string {
  return env['INFRA_ENV']?.trim() || 'prod';
}

function releasePath(envName: string, dir: string): string {
  return `${dir}${envName}.release.json`;
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new InfraConfigError([`${path} is missing: create it, or set INFRA_ENV to an environment that has one`]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InfraConfigError([`${path} is not valid JSON: ${(error as Error).message}`]);
  }
}

/** Reads INFRA_ENV's files and the override variables: the whole configuration of one synth. */
export function loadConfig(env: Env = process.env): InfraConfig {
  const name = environmentName(env);
  const dir = envsDir(env);
  const overrides: Record<string, string> = {};
  for (const [variable, key] of Object.entries(OVERRIDES)) {
    const value = env[variable]?.trim();
    if (value) overrides[key] = value;
  }
  return parseConfig({
    env: name,
    file: readJson(`${dir}${name}.json`),
    release: readJson(releasePath(name, dir)),
    overrides,
  });
}

export function readRelease(envName: string, dir: string): Release {
  return parseRelease(readJson(releasePath(envName, dir)));
}

export function writeRelease(envName: string, release: Release, dir: string): void {
  writeFileSync(releasePath(envName, dir), `${JSON.stringify(parseRelease(release), null, 2)}\n`);
}

/** Where synth writes (cdktf's own variable, honoured so `cdktf synth` and `npm run infra:synth` agree). */
export function outdir(env: Env = process.env): string {
  return env['CDKTF_OUTDIR']?.trim() || 'cdktf.out';
}
