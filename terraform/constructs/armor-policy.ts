// Cloud Armor in front of the backend service. Rules run in priority order
// and the first match wins, so the preconfigured WAF deny rules come first;
// then a per-client-IP throttle that allows conforming traffic and answers
// 429 beyond the limit; then the default allow. Layer-7 adaptive protection
// watches for volumetric attacks.

import { Construct } from 'constructs';
import {
  ComputeSecurityPolicy,
  type ComputeSecurityPolicyRule,
} from '@cdktf/provider-google/lib/compute-security-policy/index.js';

/** ModSecurity CRS 3.3 rule sets, at sensitivity 1 (fewest false positives). */
export const WAF_RULE_SETS: readonly string[] = [
  'sqli-v33-stable',
  'xss-v33-stable',
  'lfi-v33-stable',
  'rfi-v33-stable',
  'rce-v33-stable',
  'scannerdetection-v33-stable',
  'protocolattack-v33-stable',
  'nodejs-v33-stable',
];

export const THROTTLE_PRIORITY = 2000;
export const DEFAULT_RULE_PRIORITY = 2147483647;

export interface ArmorPolicyOptions {
  readonly name: string;
  readonly requestsPerIpPerMinute: number;
}

export class ArmorPolicy extends Construct {
  public readonly policy: ComputeSecurityPolicy;

  constructor(scope: Construct, id: string, options: ArmorPolicyOptions) {
    super(scope, id);
    const waf: ComputeSecurityPolicyRule[] = WAF_RULE_SETS.map((set, i) => ({
      priority: 1000 + i,
      action: 'deny(403)',
      description: `WAF ${set}`,
      match: { expr: { expression: `evaluatePreconfiguredWaf('${set}', {'sensitivity': 1})` } },
    }));
    const throttle: ComputeSecurityPolicyRule = {
      priority: THROTTLE_PRIORITY,
      action: 'throttle',
      description: `At most ${options.requestsPerIpPerMinute} requests per minute per client IP`,
      match: { versionedExpr: 'SRC_IPS_V1', config: { srcIpRanges: ['*'] } },
      rateLimitOptions: {
        conformAction: 'allow',
        exceedAction: 'deny(429)',
        enforceOnKey: 'IP',
        rateLimitThreshold: { count: options.requestsPerIpPerMinute, intervalSec: 60 },
      },
    };
    const fallback: ComputeSecurityPolicyRule = {
      priority: DEFAULT_RULE_PRIORITY,
      action: 'allow',
      description: 'Default rule',
      match: { versionedExpr: 'SRC_IPS_V1', config: { srcIpRanges: ['*'] } },
    };
    this.policy = new ComputeSecurityPolicy(this, 'policy', {
      name: options.name,
      type: 'CLOUD_ARMOR',
      description: 'counter-api edge policy: WAF, per-IP rate limit',
      rule: [...waf, throttle, fallback],
      adaptiveProtectionConfig: { layer7DdosDefenseConfig: { enable: true } },
      // The API takes JSON bodies: parse them, so the WAF rules inspect the values rather than raw text.
      advancedOptionsConfig: { jsonParsing: 'STANDARD' },
    });
  }
}
