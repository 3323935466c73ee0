// The global external Application Load Balancer (EXTERNAL_MANAGED): one
// anycast IP, a Google-managed certificate, TLS >= 1.2 under a MODERN or
// RESTRICTED policy, HTTP redirected to HTTPS with 308 (POST stays POST), and
// one backend service over every region's MIG, guarded by Cloud Armor.
//
// The backend health check asks /readyz: an instance that is booting (before
// migrations) or shutting down answers 503 there and leaves rotation before it
// would fail a request. Health checks reach the VMs directly, not through the
// URL map, so they are unaffected by its routes.
//
// The URL map forwards only what the API offers, POST / (any query): the
// same path with another method is answered 405 by the load balancer, and
// every other path 404, so /metrics, /readyz and /healthz are never reachable
// from the internet. The answers are fault-injection aborts at 100 %: the
// load balancer replies itself and the backend never sees the request.
//
// Certificates: one Google-managed certificate per domain, named from a hash
// of that domain. A new domain is a new certificate with a new name beside
// the old one (create_before_destroy would otherwise collide on the fixed
// name with a 409), and it provisions only once the domain resolves to this
// address; see docs/infrastructure.md ("Change the domain") for the order.

import { createHash } from 'node:crypto';
import { Construct } from 'constructs';
import { ComputeBackendService } from '@cdktf/provider-google/lib/compute-backend-service/index.js';
import { ComputeGlobalAddress } from '@cdktf/provider-google/lib/compute-global-address/index.js';
import { ComputeGlobalForwardingRule } from '@cdktf/provider-google/lib/compute-global-forwarding-rule/index.js';
import { ComputeHealthCheck } from '@cdktf/provider-google/lib/compute-health-check/index.js';
import { ComputeManagedSslCertificate } from '@cdktf/provider-google/lib/compute-managed-ssl-certificate/index.js';
import { ComputeSslPolicy } from '@cdktf/provider-google/lib/compute-ssl-policy/index.js';
import { ComputeTargetHttpProxy } from '@cdktf/provider-google/lib/compute-target-http-proxy/index.js';
import { ComputeTargetHttpsProxy } from '@cdktf/provider-google/lib/compute-target-https-proxy/index.js';
import {
  ComputeUrlMap,
  type ComputeUrlMapPathMatcherRouteRules,
} from '@cdktf/provider-google/lib/compute-url-map/index.js';
import type { EdgeConfig } from '../config-schema.js';
import { APP_PORT_NAME, type Names } from '../naming.js';
import { DRAINING_TIMEOUT_SEC, READINESS_CHECK } from '../serving-policy.js';

/** `<prefix>-cert-<8 hex of sha256(domain)>`: a new domain gets a new name, the same domain keeps it. */
export function certificateName(prefix: string, domain: string): string {
  return `${prefix}-cert-${createHash('sha256').update(domain).digest('hex').slice(0, 8)}`;
}

/** The routes of the HTTPS URL map: only POST / reaches the backend. */
export function apiRoutes(backend: string): ComputeUrlMapPathMatcherRouteRules[] {
  const abort = (httpStatus: number) => ({ faultInjectionPolicy: { abort: { httpStatus, percentage: 100 } } });
  return [
    {
      priority: 1,
      matchRules: [{ fullPathMatch: '/', headerMatches: [{ headerName: ':method', exactMatch: 'POST' }] }],
      service: backend,
    },
    {
      priority: 2,
      matchRules: [{ fullPathMatch: '/' }],
      service: backend,
      routeAction: abort(405),
      headerAction: { responseHeadersToAdd: [{ headerName: 'Allow', headerValue: 'POST', replace: true }] },
    },
  ];
}

/** Everything that is not `/` is answered 404 by the load balancer. */
export const NOT_FOUND_ACTION = { faultInjectionPolicy: { abort: { httpStatus: 404, percentage: 100 } } };

export interface LoadBalancerOptions {
  readonly names: Names;
  readonly prefix: string;
  /** The first is the primary domain (uptime check); every one gets its own certificate. */
  readonly domains: readonly string[];
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
    const certificates = options.domains.map(
      (domain) =>
        new ComputeManagedSslCertificate(this, `certificate-${domain}`, {
          name: certificateName(options.prefix, domain),
          managed: { domains: [domain] },
          lifecycle: { createBeforeDestroy: true },
        }),
    );
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
    const urlMap = new ComputeUrlMap(this, 'https-map', {
      name: n.urlMap,
      defaultService: this.backend.id,
      defaultRouteAction: NOT_FOUND_ACTION,
      hostRule: [{ hosts: ['*'], pathMatcher: 'api' }],
      pathMatcher: [
        {
          name: 'api',
          defaultService: this.backend.id,
          defaultRouteAction: NOT_FOUND_ACTION,
          routeRules: apiRoutes(this.backend.id),
        },
      ],
    });
    const httpsProxy = new ComputeTargetHttpsProxy(this, 'https-proxy', {
      name: n.httpsProxy,
      urlMap: urlMap.id,
      sslCertificates: certificates.map((c) => c.id),
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
