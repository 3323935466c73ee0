// Every resource name, derived from the prefix alone. Stacks do not read each
// other's state: a later stack finds what an earlier one created by these
// stable names (through data sources), so each stack's JSON plans on its own
// with plain terraform and no random suffix ever enters a name.

import type { InfraConfig } from './config-schema.js';

export const APP_PORT = 8080;
export const APP_PORT_NAME = 'http';
export const DB_NAME = 'counter';
export const DB_USER = 'counter';

export function names(config: Pick<InfraConfig, 'prefix' | 'project'>) {
  const p = config.prefix;
  return {
    network: `${p}-vpc`,
    subnet: (region: string) => `${p}-${region}`,
    servicesRange: `${p}-psa`,
    /** Cloud SQL instance in a region: the primary, or the DR replica in another region. */
    sqlInstance: (region: string) => `${p}-pg-${region}`,
    /** Private DNS zone that names the writer; the fleet connects to dbHost, so a failover is one record. */
    dnsZone: `${p}-internal`,
    dnsDomain: `${p}.internal.`,
    dbHost: `db.${p}.internal`,
    dbPasswordSecret: `${p}-db-password`,
    dbPasswordSecretId: `projects/${config.project}/secrets/${p}-db-password`,
    fleetAccount: `${p}-vm`,
    fleetAccountEmail: `${p}-vm@${config.project}.iam.gserviceaccount.com`,
    firewall: (rule: string) => `${p}-${rule}`,
    builderAccount: `${p}-builder`,
    buildVmAccount: `${p}-build-vm`,
    buildSubnet: `${p}-build`,
    buildRouter: `${p}-build`,
    buildNat: `${p}-build`,
    pipelineAccount: `${p}-patch`,
    pipelineTrigger: `${p}-patch`,
    template: (region: string) => `${p}-${region}-`,
    group: (region: string) => `${p}-${region}`,
    autohealCheck: (region: string) => `${p}-${region}-healthz`,
    autoscaler: (region: string) => `${p}-${region}`,
    address: `${p}-ip`,
    sslPolicy: `${p}-tls`,
    securityPolicy: `${p}-armor`,
    backendCheck: `${p}-readyz`,
    backend: `${p}-api`,
    urlMap: `${p}-https`,
    redirectMap: `${p}-http-redirect`,
    httpsProxy: `${p}-https`,
    httpProxy: `${p}-http`,
    httpsRule: `${p}-https`,
    httpRule: `${p}-http`,
    monitoringService: `${p}-api`,
    slo: `${p}-availability`,
  } as const;
}

export type Names = ReturnType<typeof names>;
