// Which address a request came from. X-Forwarded-For is a client-supplied
// header: it is believed only when the connection comes from a trusted proxy
// (by default Google's front ends, 35.191.0.0/16 and 130.211.0.0/22, the
// documented source ranges of its load balancers), and only the entry that
// proxy appended is used. Google's external Application Load Balancer
// appends `<client-ip>,<load-balancer-ip>`, so the client is the second entry
// from the right (FORWARDED_FOR_HOPS=2); a proxy that appends only the client
// (HAProxy's `option forwardfor`) needs 1. Anything that is not an IP address
// is ignored.

import net from 'node:net';

export interface ProxyTrust {
  /** CIDR ranges of trusted proxies (TRUSTED_PROXY_RANGES). */
  readonly trustedProxyRanges: readonly string[];
  /** Entries the trusted proxy appends to X-Forwarded-For; the client is the first of them. */
  readonly forwardedForHops: number;
}

export const GOOGLE_FRONT_ENDS: readonly string[] = ['35.191.0.0/16', '130.211.0.0/22'];

/** A problem with one CIDR range, or undefined if it is valid. */
export function cidrProblem(range: string): string | undefined {
  const [address = '', prefix, ...rest] = range.split('/');
  const family = net.isIP(address);
  const bits = Number(prefix);
  if (family === 0 || rest.length > 0 || !/^\d{1,3}$/.test(prefix ?? '') || bits > (family === 4 ? 32 : 128)) {
    return `"${range}" is not a CIDR range such as 35.191.0.0/16`;
  }
  return undefined;
}

/** Strips the IPv4-mapped IPv6 prefix that dual-stack sockets report. */
function plain(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

export type ClientAddress = (peer: string | undefined, forwardedFor: string | undefined) => string | undefined;

export function clientAddress(trust: ProxyTrust): ClientAddress {
  const trusted = new net.BlockList();
  for (const range of trust.trustedProxyRanges) {
    const [address = '', prefix = ''] = range.split('/');
    trusted.addSubnet(address, Number(prefix), net.isIPv6(address) ? 'ipv6' : 'ipv4');
  }
  return (peer, forwardedFor) => {
    if (peer === undefined) return undefined;
    const from = plain(peer);
    if (forwardedFor === undefined || !trusted.check(from, net.isIPv6(from) ? 'ipv6' : 'ipv4')) return from;
    const entries = forwardedFor.split(',').map((entry) => entry.trim());
    const candidate = plain(entries[entries.length - trust.forwardedForHops] ?? '');
    return net.isIP(candidate) === 0 ? from : candidate;
  };
}
