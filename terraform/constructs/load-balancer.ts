// The global external Application Load Balancer (EXTERNAL_MANAGED): one
// anycast IP, a Google-managed certificate, TLS >= 1.2 under a MODERN or
// RESTRICTED policy, HTTP redirected to HTTPS with 308 (POST stays POST), and
// one backend service over every region's MIG, guarded by Cloud Armor.
//
// The backend health check asks /readyz, not /healthz: an instance that is
// booting (before migrations) or shutting down answers 503 there and leaves
// rotation before it would fail a request. Autohealing uses /healthz, which
// stays 200 in degraded mode, so the two checks never fight.

import { Construct } from 'constructs';
import { ComputeBackendService } from '@cdktf/provider-google/lib/compute-backend-service/index.js';
import { ComputeGlobalAddress } from '@cdktf/provider-google/lib/compute-global-address/index.js';
import { ComputeGlobalForwardingRule } from '@cdktf/provider-google/lib/compute-global-forwarding-rule/index.js';
import { ComputeHealthCheck } from '@cdktf/provider-google/lib/compute-health-check/index.js';
import { ComputeManagedSslCertificate } from '@cdktf/provider-google/lib/compute-managed-ssl-certificate/index.js';
import { ComputeSslPolicy } from '@cdktf/provider-google/lib/compute-ssl-policy/index.js';
import { ComputeTargetHttpProxy } from '@cdktf/provider-google/lib/compute-target-http-proxy/index.js';
import { ComputeTargetHttpsProxy } from '@cdktf/provider-google/lib/compute-target-https-proxy/index.js';
import { ComputeUrlMap } from '@cdktf/provider-google/lib/compute-url-map/index.js';
import type { EdgeConfig } from '../config-schema.js';
import { APP_PORT_NAME, type Names } from '../naming.js';
import { DRAINING_TIMEOUT_SEC, READINESS_CHECK } from '../serving-policy.js';

export interface LoadBalancerOptions {
  readonly names: Names;
  readonly domain: string;
  readonly edge: EdgeConfig;
  /** Instance group URLs, one per regional MIG. */
  readonly instanceGroups: readonly string[];
  readonly maxRatePerInstance: number;
  readonly securityPolicy: string;
  /** Longer than the app's own SIGTERM drain (~30 s) and its request timeout. */
  readonly drainingSeconds?: number;
}

export class LoadBalancer extends Construct {
  public readonly address: ComputeGlobalAddress;
  public readonly backend: ComputeBackendService;

  constructor(scope: Construct, id: string, options: LoadBalancerOptions) {
    super(scope, id);
    const n = options.names;
    const scheme = 'EXTERNAL_MANAGED';
    this.address = new ComputeGlobalAddress(this, 'address', {
      name: n.address,
      ipVersion: 'IPV4',
      addressType: 'EXTERNAL',
    });
    const certificate = new ComputeManagedSslCertificate(this, 'certificate', {
      name: n.certificate,
      managed: { domains: [options.domain] },
      lifecycle: { createBeforeDestroy: true },
    });
    const sslPolicy = new ComputeSslPolicy(this, 'tls', {
      name: n.sslPolicy,
      profile: options.edge.sslProfile,
      minTlsVersion: 'TLS_1_2',
    });
    const readiness = new ComputeHealthCheck(this, 'readiness', {
      name: n.backendCheck,
      checkIntervalSec: READINESS_CHECK.checkIntervalSec,
      timeoutSec: READINESS_CHECK.timeoutSec,
      healthyThreshold: READINESS_CHECK.healthyThreshold,
      unhealthyThreshold: READINESS_CHECK.unhealthyThreshold,
      httpHealthCheck: { port: READINESS_CHECK.port, requestPath: READINESS_CHECK.path },
      logConfig: { enable: false },
    });
    this.backend = new ComputeBackendService(this, 'backend', {
      name: n.backend,
      loadBalancingScheme: scheme,
      protocol: 'HTTP',
      portName: APP_PORT_NAME,
      timeoutSec: 30,
      connectionDrainingTimeoutSec: options.drainingSeconds ?? DRAINING_TIMEOUT_SEC,
      healthChecks: [readiness.id],
      securityPolicy: options.securityPolicy,
      logConfig: { enable: true, sampleRate: options.edge.requestLogSampleRate },
      // Eject a VM that keeps answering 5xx before the health check notices.
      outlierDetection: {
        consecutiveErrors: 5,
        interval: { seconds: 10 },
        baseEjectionTime: { seconds: 30 },
        maxEjectionPercent: 50,
      },
      backend: options.instanceGroups.map((group) => ({
        group,
        balancingMode: 'RATE',
        maxRatePerInstance: options.maxRatePerInstance,
        capacityScaler: 1,
      })),
    });
    const urlMap = new ComputeUrlMap(this, 'https-map', { name: n.urlMap, defaultService: this.backend.id });
    const httpsProxy = new ComputeTargetHttpsProxy(this, 'https-proxy', {
      name: n.httpsProxy,
      urlMap: urlMap.id,
      sslCertificates: [certificate.id],
      sslPolicy: sslPolicy.id,
    });
    new ComputeGlobalForwardingRule(this, 'https-rule', {
      name: n.httpsRule,
      loadBalancingScheme: scheme,
      ipAddress: this.address.id,
      ipProtocol: 'TCP',
      portRange: '443',
      target: httpsProxy.id,
    });
    const redirect = new ComputeUrlMap(this, 'http-redirect', {
      name: n.redirectMap,
      defaultUrlRedirect: { httpsRedirect: true, redirectResponseCode: 'PERMANENT_REDIRECT', stripQuery: false },
    });
    const httpProxy = new ComputeTargetHttpProxy(this, 'http-proxy', { name: n.httpProxy, urlMap: redirect.id });
    new ComputeGlobalForwardingRule(this, 'http-rule', {
      name: n.httpRule,
      loadBalancingScheme: scheme,
      ipAddress: this.address.id,
      ipProtocol: 'TCP',
      portRange: '80',
      target: httpProxy.id,
    });
  }
}
