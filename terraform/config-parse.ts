// Turns the raw JSON of an environment (terraform/envs/<env>.json), its
// release pin (<env>.release.json) and the environment-variable overrides into
// a frozen InfraConfig. Every rule here protects an availability or security
// property that the policy tests then check on the synthesized Terraform.

import {
  CANARY_SIZE,
  DATABASE_DEFAULTS,
  DOMAIN,
  EDGE_DEFAULTS,
  IAM_MEMBER,
  FLEET_DEFAULTS,
  IMAGE_NAME,
  InfraConfigError,
  NAME,
  type Canary,
  type InfraConfig,
  type RegionConfig,
  type Release,
} from './config-schema.js';
import { cidrsOverlap, parseCidr } from './cidr.js';
import { Reader, type Raw } from './config-reader.js';

export interface RawConfig {
  readonly env: string;
  readonly file: unknown;
  readonly release: unknown;
  /** Non-empty environment variables that replace keys of the file. */
  readonly overrides?: Readonly<Record<string, string>>;
}

export function parseConfig(raw: RawConfig): InfraConfig {
  const r = new Reader();
  if (!/^[a-z][a-z0-9]{0,9}$/.test(raw.env))
    r.problems.push(`INFRA_ENV must be 1-10 lowercase letters or digits (got "${raw.env}")`);
  const file = { ...r.object(raw.file, 'environment file'), ...raw.overrides };
  // No default: a placeholder project would synthesize, plan against nothing and fail late.
  if (file['project'] === undefined) r.problems.push('project is not set: set GCP_PROJECT to the project id');
  const project =
    file['project'] === undefined
      ? ''
      : r.string(file, 'project', '', '', /^[a-z][-a-z0-9]{4,28}[a-z0-9]$/, 'a GCP project id');
  // Derived defaults (state bucket, image project) would only repeat the missing-project problem.
  const base = project || 'project-unset';
  const prefix = r.string(
    file,
    'prefix',
    '',
    `counter-${raw.env}`,
    /^[a-z][-a-z0-9]{0,18}[a-z0-9]$/,
    'a name prefix of at most 20 characters',
  );
  const config: InfraConfig = {
    env: raw.env,
    project,
    prefix,
    regions: readRegions(r, file['regions']),
    servicesCidr: r.string(file, 'servicesCidr', '', '10.100.0.0/20', /./, 'a CIDR'),
    buildCidr: r.string(file, 'buildCidr', '', '10.30.0.0/24', /./, 'a CIDR'),
    domain: r.string(file, 'domain', '', undefined, DOMAIN, 'a DNS name'),
    alertEmail: r.string(file, 'alertEmail', '', undefined, /^[^@\s]+@[^@\s]+\.[a-z]{2,}$/, 'an email address'),
    operators: r.strings(file, 'operators', '', IAM_MEMBER, 'IAM members (group:…, user:…)', 20),
    stateBucket: r.string(
      file,
      'stateBucket',
      '',
      `${base}-tfstate`,
      /^[a-z0-9][-a-z0-9._]{1,61}[a-z0-9]$/,
      'a GCS bucket name',
    ),
    pipelineRepo: r.string(
      file,
      'pipelineRepo',
      '',
      undefined,
      /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+$/,
      'a GitHub repository URL (https://github.com/<owner>/<name>)',
    ),
    imageProject: r.string(file, 'imageProject', '', base, /^[a-z][-a-z0-9]{4,28}[a-z0-9]$/, 'a GCP project id'),
    release: readRelease(r, raw.release),
    fleet: readFleet(r, r.object(file['fleet'], 'fleet')),
    database: readDatabase(r, r.object(file['database'], 'database'), file['regions']),
    edge: readEdge(r, r.object(file['edge'], 'edge')),
    // Underscores, not dashes: cdktf snake-cases the keys of provider-level maps.
    labels: { app: 'counter-api', env: raw.env, managed_by: 'cdktf' },
  };
  checkRelations(config, r.problems);
  if (r.problems.length > 0) throw new InfraConfigError(r.problems);
  return deepFreeze(config);
}

function readRegions(r: Reader, value: unknown): RegionConfig[] {
  if (!Array.isArray(value) || value.length === 0) {
    r.problems.push('regions must list at least one region (the first holds Cloud SQL)');
    return [];
  }
  return value.map((item, i) => {
    const path = `regions[${i}].`;
    const o = r.object(item, `regions[${i}]`);
    const region = r.string(o, 'region', path, undefined, /^[a-z]+-[a-z]+\d+$/, 'a GCP region such as europe-west1');
    const zones = Array.isArray(o['zones']) ? o['zones'].filter((z): z is string => typeof z === 'string') : [];
    const zoneRule = new RegExp(`^${region}-[a-z]$`);
    if (zones.length < 3 || new Set(zones).size !== zones.length || !zones.every((z) => zoneRule.test(z))) {
      r.problems.push(
        `${path}zones must list at least 3 distinct zones of ${region} (got ${JSON.stringify(o['zones'])})`,
      );
    }
    return { region, zones, subnetCidr: r.string(o, 'subnetCidr', path, undefined, /./, 'a CIDR') };
  });
}

function readRelease(r: Reader, value: unknown): Release {
  const o = r.object(value, 'release');
  const image = r.string(o, 'image', 'release.', undefined, IMAGE_NAME, 'an exact image name (not a family)');
  if (o['canary'] === undefined || o['canary'] === null) return { image, canary: null };
  const c = r.object(o['canary'], 'release.canary');
  const canary: Canary = {
    image: r.string(c, 'image', 'release.canary.', undefined, IMAGE_NAME, 'an exact image name'),
    size: r.string(
      c,
      'size',
      'release.canary.',
      undefined,
      CANARY_SIZE,
      'a percentage such as "10%" or an instance count',
    ),
  };
  if (canary.image === image) r.problems.push('release.canary.image must differ from release.image');
  return { image, canary };
}

/** Validates a release pin alone (the roll command's input and output). */
export function parseRelease(value: unknown): Release {
  const r = new Reader();
  const release = readRelease(r, value);
  if (r.problems.length > 0) throw new InfraConfigError(r.problems);
  return deepFreeze(release);
}

function readFleet(r: Reader, o: Raw): InfraConfig['fleet'] {
  const d = FLEET_DEFAULTS;
  return {
    machineType: r.string(o, 'machineType', 'fleet.', d.machineType, NAME, 'a machine type'),
    diskSizeGb: r.number(o, 'diskSizeGb', 'fleet.', d.diskSizeGb, 10, 1000),
    instanceCapacityRps: r.number(o, 'instanceCapacityRps', 'fleet.', d.instanceCapacityRps, 1, 100_000),
    peakRps: r.number(o, 'peakRps', 'fleet.', d.peakRps, 1, 1_000_000),
    targetUtilization: r.number(o, 'targetUtilization', 'fleet.', d.targetUtilization, 0.1, 0.9),
    bootSeconds: r.number(o, 'bootSeconds', 'fleet.', d.bootSeconds, 60, 3600),
  };
}

function readDatabase(r: Reader, o: Raw, regions: unknown): InfraConfig['database'] {
  const d = DATABASE_DEFAULTS;
  const listed = Array.isArray(regions)
    ? regions.map((x) => (x as Raw | null)?.['region']).filter((x): x is string => typeof x === 'string')
    : [];
  const primaryRegion = r.oneOf(o, 'primaryRegion', 'database.', listed[0] ?? '', listed);
  const others = listed.filter((x) => x !== primaryRegion);
  const replicaRegion =
    o['replicaRegion'] === null ? null : r.oneOf(o, 'replicaRegion', 'database.', others[0] ?? '', ['', ...others]);
  return {
    primaryRegion,
    replicaRegion: replicaRegion === '' ? null : replicaRegion,
    tier: r.string(
      o,
      'tier',
      'database.',
      d.tier,
      /^db-perf-optimized-N-\d+$/,
      'an Enterprise Plus (dedicated-core) tier',
    ),
    version: r.string(o, 'version', 'database.', d.version, /^POSTGRES_1[4-9]$/, 'POSTGRES_14 or later'),
    diskSizeGb: r.number(o, 'diskSizeGb', 'database.', d.diskSizeGb, 10, 65_536),
    maintenanceDay: r.number(o, 'maintenanceDay', 'database.', d.maintenanceDay, 1, 7),
    maintenanceHour: r.number(o, 'maintenanceHour', 'database.', d.maintenanceHour, 0, 23),
    backupStartTime: r.string(o, 'backupStartTime', 'database.', d.backupStartTime, /^([01]\d|2[0-3]):00$/, 'HH:00'),
    retainedBackups: r.number(o, 'retainedBackups', 'database.', d.retainedBackups, 7, 365),
    logRetentionDays: r.number(o, 'logRetentionDays', 'database.', d.logRetentionDays, 1, 35),
    sslMode: r.oneOf(o, 'sslMode', 'database.', d.sslMode, ['require', 'verify-ca']),
  };
}

function readEdge(r: Reader, o: Raw): InfraConfig['edge'] {
  const d = EDGE_DEFAULTS;
  return {
    // A target HTTPS proxy takes at most 15 certificates.
    additionalDomains: r.strings(o, 'additionalDomains', 'edge.', DOMAIN, 'DNS names', 14),
    excludeRegions: r.strings(o, 'excludeRegions', 'edge.', /^[a-z]+-[a-z]+\d+$/, 'regions', 10),
    sslProfile: r.oneOf(o, 'sslProfile', 'edge.', d.sslProfile, ['MODERN', 'RESTRICTED']),
    rateLimitPerIpPerMinute: r.number(o, 'rateLimitPerIpPerMinute', 'edge.', d.rateLimitPerIpPerMinute, 10, 1_000_000),
    requestLogSampleRate: r.number(o, 'requestLogSampleRate', 'edge.', d.requestLogSampleRate, 0, 1),
  };
}

function checkRelations(c: InfraConfig, problems: string[]): void {
  const names = c.regions.map((x) => x.region);
  if (new Set(names).size !== names.length) problems.push(`regions must not repeat a region (got ${names.join(', ')})`);
  // Cloud SQL rejects a backup configuration whose retained backups do not exceed the log retention days.
  if (c.database.retainedBackups <= c.database.logRetentionDays) {
    problems.push(
      `database.retainedBackups (${c.database.retainedBackups}) must exceed database.logRetentionDays (${c.database.logRetentionDays}): Cloud SQL rejects the backup configuration otherwise`,
    );
  }
  const domains = [c.domain, ...c.edge.additionalDomains];
  if (new Set(domains).size !== domains.length)
    problems.push(`edge.additionalDomains must not repeat a domain or the domain itself (got ${domains.join(', ')})`);
  for (const region of c.edge.excludeRegions)
    if (!names.includes(region)) problems.push(`edge.excludeRegions names ${region}, which is not in regions`);
  if (c.regions.length > 0 && c.edge.excludeRegions.length >= c.regions.length)
    problems.push('edge.excludeRegions must leave at least one region behind the load balancer');
  const ranges: [string, string][] = [
    ['servicesCidr', c.servicesCidr],
    ['buildCidr', c.buildCidr],
    ...c.regions.map((x, i): [string, string] => [`regions[${i}].subnetCidr`, x.subnetCidr]),
  ];
  for (const [key, cidr] of ranges)
    if (parseCidr(cidr) === undefined)
      problems.push(`${key} must be a private IPv4 CIDR from /8 to /28 (got "${cidr}")`);
  ranges.forEach(([a, x], i) =>
    ranges.slice(i + 1).forEach(([b, y]) => {
      if (cidrsOverlap(x, y)) problems.push(`${a} (${x}) overlaps ${b} (${y})`);
    }),
  );
  for (const region of c.regions) {
    const ceiling = (region.zones.length - 1) / region.zones.length;
    if (c.fleet.targetUtilization > ceiling) {
      problems.push(
        `fleet.targetUtilization (${c.fleet.targetUtilization}) must be at most ${ceiling.toFixed(3)} so that ${region.zones.length - 1} zones of ${region.region} carry the load of ${region.zones.length}`,
      );
    }
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}
