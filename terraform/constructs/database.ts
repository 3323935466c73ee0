// The counter's home: Cloud SQL for PostgreSQL, Enterprise Plus edition with
// a synchronous standby in a second zone (REGIONAL), reachable only on a
// private IP and only over TLS. Backups, point-in-time recovery and deletion
// protection guard the data; the maintenance window is pinned.
//
// With a replica region, a cross-region read replica of the same edition,
// tier and availability follows the primary asynchronously: the disaster
// recovery copy that is promoted when the primary's region is lost
// (docs/runbook-region-loss.md). The fleet never connects to an instance's IP:
// it connects to a name in a private DNS zone whose one A record points at
// the writer, so a promotion is followed by changing one record, not by a
// roll of every VM.
//
// Credentials never enter Terraform: this construct creates the Secret
// Manager secret that will hold the application password, not its value. The
// value and the database user are created once by the bootstrap in
// docs/infrastructure.md, so neither plan files nor state carry a password.

import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { DnsManagedZone } from '@cdktf/provider-google/lib/dns-managed-zone/index.js';
import { DnsRecordSet } from '@cdktf/provider-google/lib/dns-record-set/index.js';
import { SecretManagerSecret } from '@cdktf/provider-google/lib/secret-manager-secret/index.js';
import { SqlDatabase } from '@cdktf/provider-google/lib/sql-database/index.js';
import {
  SqlDatabaseInstance,
  type SqlDatabaseInstanceSettings,
} from '@cdktf/provider-google/lib/sql-database-instance/index.js';
import type { DatabaseConfig, RegionConfig } from '../config-schema.js';
import { DB_NAME, type Names } from '../naming.js';

export interface DatabaseOptions {
  readonly names: Names;
  /** The primary's region (its first two zones hold primary and standby). */
  readonly region: RegionConfig;
  /** The DR replica's region, or undefined for none. */
  readonly replicaRegion?: RegionConfig;
  readonly settings: DatabaseConfig;
  readonly networkId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly dependsOn: ITerraformDependable[];
}

/** Seconds a resolver may cache the writer's address: the floor of a DNS switch after a promotion. */
export const WRITER_TTL_SEC = 30;

/** Flags that matter for one hot row: a stuck transaction must not hold its lock for long. */
export const DATABASE_FLAGS: Readonly<Record<string, string>> = {
  idle_in_transaction_session_timeout: '60000',
  log_connections: 'on',
  log_disconnections: 'on',
  log_lock_waits: 'on',
  log_min_duration_statement: '1000',
};

export class Database extends Construct {
  public readonly instance: SqlDatabaseInstance;
  public readonly replica: SqlDatabaseInstance | undefined;
  public readonly passwordSecret: SecretManagerSecret;

  constructor(scope: Construct, id: string, options: DatabaseOptions) {
    super(scope, id);
    const s = options.settings;
    const n = options.names;
    const common = (region: RegionConfig): SqlDatabaseInstanceSettings => {
      const [zone, secondaryZone] = region.zones;
      return {
        edition: 'ENTERPRISE_PLUS',
        tier: s.tier,
        availabilityType: 'REGIONAL',
        locationPreference: { zone, secondaryZone },
        deletionProtectionEnabled: true,
        diskType: 'PD_SSD',
        diskSize: s.diskSizeGb,
        diskAutoresize: true,
        dataCacheConfig: { dataCacheEnabled: true },
        userLabels: options.labels,
        ipConfiguration: {
          ipv4Enabled: false,
          privateNetwork: options.networkId,
          sslMode: 'ENCRYPTED_ONLY',
          // Pinned: the per-instance CA whose certificate the fleet reads as server_ca_cert (verify-ca).
          serverCaMode: 'GOOGLE_MANAGED_INTERNAL_CA',
          enablePrivatePathForGoogleCloudServices: false,
        },
        maintenanceWindow: { day: s.maintenanceDay, hour: s.maintenanceHour, updateTrack: 'stable' },
        insightsConfig: { queryInsightsEnabled: true, recordClientAddress: false, recordApplicationTags: false },
        databaseFlags: Object.entries(DATABASE_FLAGS).map(([name, value]) => ({ name, value })),
      };
    };
    this.instance = new SqlDatabaseInstance(this, 'instance', {
      name: n.sqlInstance(options.region.region),
      region: options.region.region,
      databaseVersion: s.version,
      deletionProtection: true,
      dependsOn: options.dependsOn,
      lifecycle: { preventDestroy: true },
      settings: {
        ...common(options.region),
        retainBackupsOnDelete: true,
        backupConfiguration: {
          enabled: true,
          pointInTimeRecoveryEnabled: true,
          startTime: s.backupStartTime,
          transactionLogRetentionDays: s.logRetentionDays,
          backupRetentionSettings: { retainedBackups: s.retainedBackups, retentionUnit: 'COUNT' },
        },
        passwordValidationPolicy: { enablePasswordPolicy: true, minLength: 24, disallowUsernameSubstring: true },
      },
    });
    // A read replica takes no backups of its own (the primary's are the backups); after a
    // promotion the runbook turns them on for the new primary.
    this.replica =
      options.replicaRegion === undefined
        ? undefined
        : new SqlDatabaseInstance(this, 'replica', {
            name: n.sqlInstance(options.replicaRegion.region),
            region: options.replicaRegion.region,
            databaseVersion: s.version,
            masterInstanceName: this.instance.name,
            instanceType: 'READ_REPLICA_INSTANCE',
            deletionProtection: true,
            lifecycle: { preventDestroy: true },
            settings: { ...common(options.replicaRegion), backupConfiguration: { enabled: false } },
          });
    const zone = new DnsManagedZone(this, 'zone', {
      name: n.dnsZone,
      dnsName: n.dnsDomain,
      description: 'counter-api private names: the database writer',
      visibility: 'private',
      privateVisibilityConfig: { networks: [{ networkUrl: options.networkId }] },
      dependsOn: options.dependsOn,
    });
    new DnsRecordSet(this, 'writer', {
      managedZone: zone.name,
      name: `${n.dbHost}.`,
      type: 'A',
      ttl: WRITER_TTL_SEC,
      rrdatas: [this.instance.privateIpAddress],
    });
    new SqlDatabase(this, 'database', {
      name: DB_NAME,
      instance: this.instance.name,
      // Removing this resource from code must never drop the counter.
      deletionPolicy: 'ABANDON',
    });
    this.passwordSecret = new SecretManagerSecret(this, 'password', {
      secretId: options.names.dbPasswordSecret,
      replication: { auto: {} },
      deletionProtection: true,
      dependsOn: options.dependsOn,
    });
  }
}
