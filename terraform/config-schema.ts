// The typed shape of one environment and the rules it must satisfy. Pure: it
// takes the already-read environment file, release file and overrides, fills
// defaults and collects every problem at once, each naming the bad key, so a
// typo fails the synth instead of reaching a plan.

export interface RegionConfig {
  readonly region: string;
  /** At least three zones of `region`; the MIG spreads EVEN across them. */
  readonly zones: readonly string[];
  readonly subnetCidr: string;
}

export interface FleetConfig {
  readonly machineType: string;
  readonly diskSizeGb: number;
  /** Requests/s one instance sustains (measured by `npm run bench`). */
  readonly instanceCapacityRps: number;
  /** Peak the fleet must carry with a whole zone lost. */
  readonly peakRps: number;
  /** Autoscaler target; at most (zones - 1) / zones so a zone loss fits. */
  readonly targetUtilization: number;
  /** Boot + startup script + app start: autohealing initial delay. */
  readonly bootSeconds: number;
}

export interface DatabaseConfig {
  /** Region of the Cloud SQL primary; one of `regions` (default: the first). */
  readonly primaryRegion: string;
  /**
   * Region of the cross-region read replica kept for disaster recovery, or
   * null for none. Default: the first other region when there are two or
   * more, none with one.
   */
  readonly replicaRegion: string | null;
  readonly tier: string;
  readonly version: string;
  readonly diskSizeGb: number;
  /** 1 = Monday … 7 = Sunday. */
  readonly maintenanceDay: number;
  readonly maintenanceHour: number;
  readonly backupStartTime: string;
  readonly retainedBackups: number;
  readonly logRetentionDays: number;
  readonly sslMode: 'require' | 'verify-ca';
}

export interface EdgeConfig {
  /**
   * More names on the HTTPS proxy, one managed certificate each. A domain
   * change adds the new name here first, so its certificate provisions while
   * the old one still serves (docs/infrastructure.md, "Change the domain").
   */
  readonly additionalDomains: readonly string[];
  /**
   * Regions whose MIG the backend service leaves out: the first step of
   * replacing a MIG or removing a region (the group cannot be deleted while
   * the backend service references it).
   */
  readonly excludeRegions: readonly string[];
  readonly sslProfile: 'MODERN' | 'RESTRICTED';
  readonly rateLimitPerIpPerMinute: number;
  readonly requestLogSampleRate: number;
}

export interface Canary {
  readonly image: string;
  /** "10%" of the group or a fixed instance count such as "1". */
  readonly size: string;
}

/** The only thing `npm run infra:roll` changes: which image the fleet runs. */
export interface Release {
  readonly image: string;
  readonly canary: Canary | null;
}

export interface InfraConfig {
  readonly env: string;
  readonly project: string;
  readonly prefix: string;
  /** The first region is primary: it holds Cloud SQL. */
  readonly regions: readonly RegionConfig[];
  readonly servicesCidr: string;
  /** The image build subnet (Cloud NAT), in the primary region. */
  readonly buildCidr: string;
  readonly domain: string;
  readonly alertEmail: string;
  /** IAM members who SSH to the fleet (OS Login through IAP); they get serviceAccountUser on the fleet account. */
  readonly operators: readonly string[];
  readonly stateBucket: string;
  /** The GitHub repository the patch pipeline builds from (https://github.com/<owner>/<name>). */
  readonly pipelineRepo: string;
  readonly imageProject: string;
  readonly release: Release;
  readonly fleet: FleetConfig;
  readonly database: DatabaseConfig;
  readonly edge: EdgeConfig;
  readonly labels: Readonly<Record<string, string>>;
}

export class InfraConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid infrastructure configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'InfraConfigError';
  }
}

export const FLEET_DEFAULTS: FleetConfig = {
  machineType: 'n2d-standard-2',
  diskSizeGb: 20,
  // The highest rate one 2-core machine carried within p99 <= 50 ms with the
  // modeled Cloud SQL commit (docs/benchmarks.md, "Sizing"); the same value
  // the environments set.
  instanceCapacityRps: 1000,
  peakRps: 1000,
  targetUtilization: 0.6,
  bootSeconds: 300,
};

export const DATABASE_DEFAULTS: Omit<DatabaseConfig, 'primaryRegion' | 'replicaRegion'> = {
  tier: 'db-perf-optimized-N-2',
  version: 'POSTGRES_17',
  diskSizeGb: 20,
  maintenanceDay: 7,
  maintenanceHour: 3,
  backupStartTime: '02:00',
  retainedBackups: 14,
  logRetentionDays: 7,
  sslMode: 'verify-ca',
};

export const EDGE_DEFAULTS: EdgeConfig = {
  additionalDomains: [],
  excludeRegions: [],
  sslProfile: 'MODERN',
  rateLimitPerIpPerMinute: 1200,
  requestLogSampleRate: 1,
};

export const DOMAIN = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$/;
export const IAM_MEMBER = /^(group|user|serviceAccount):[^@\s]+@[^@\s]+\.[a-z]{2,}$/;
export const NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
export const IMAGE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const CANARY_SIZE = /^([1-9]\d?%|100%|[1-9]\d*)$/;
