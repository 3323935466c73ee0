// The counter's home: Cloud SQL for PostgreSQL, Enterprise Plus edition with
// a synchronous standby in a second zone (REGIONAL), reachable only on a
// private IP and only over TLS. Backups, point-in-time recovery and deletion
// protection guard the data; the maintenance window is pinned.
//
// Credentials never enter Terraform: this construct creates the Secret
// Manager secret that will hold the application password, not its value. The
// value and the database user are created once by the bootstrap in
// docs/infrastructure.md, so neither plan files nor state carry a password.

import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { SecretManagerSecret } from '@cdktf/provider-google/lib/secret-manager-secret/index.js';
import { SqlDatabase } from '@cdktf/provider-google/lib/sql-database/index.js';
import { SqlDatabaseInstance } from '@cdktf/provider-google/lib/sql-database-instance/index.js';
import type { DatabaseConfig, RegionConfig } from '../config-schema.js';
import { DB_NAME, type Names } from '../naming.js';

export interface DatabaseOptions {
  readonly names: Names;
  readonly region: RegionConfig;
  readonly settings: DatabaseConfig;
  readonly networkId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly dependsOn: ITerraformDependable[];
}

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
  public readonly passwordSecret: SecretManagerSecret;

  constructor(scope: Construct, id: string, options: DatabaseOptions) {
    super(scope, id);
    const s = options.settings;
    const [primaryZone, standbyZone] = options.region.zones;
    this.instance = new SqlDatabaseInstance(this, 'instance', {
      name: options.names.sqlInstance,
      region: options.region.region,
      databaseVersion: s.version,
      deletionProtection: true,
      dependsOn: options.dependsOn,
      lifecycle: { preventDestroy: true },
      settings: {
        edition: 'ENTERPRISE_PLUS',
        tier: s.tier,
        availabilityType: 'REGIONAL',
        locationPreference: { zone: primaryZone, secondaryZone: standbyZone },
        deletionProtectionEnabled: true,
        retainBackupsOnDelete: true,
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
        backupConfiguration: {
          enabled: true,
          pointInTimeRecoveryEnabled: true,
          startTime: s.backupStartTime,
          transactionLogRetentionDays: s.logRetentionDays,
          backupRetentionSettings: { retainedBackups: s.retainedBackups, retentionUnit: 'COUNT' },
        },
        maintenanceWindow: { day: s.maintenanceDay, hour: s.maintenanceHour, updateTrack: 'stable' },
        insightsConfig: { queryInsightsEnabled: true, recordClientAddress: false, recordApplicationTags: false },
        passwordValidationPolicy: { enablePasswordPolicy: true, minLength: 24, disallowUsernameSubstring: true },
        databaseFlags: Object.entries(DATABASE_FLAGS).map(([name, value]) => ({ name, value })),
      },
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
