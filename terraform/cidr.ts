// IPv4 CIDR arithmetic for config validation: subnets, the private services
// range for Cloud SQL and a second region's subnet must never overlap, and a
// plan would only say so after the network already exists.

export interface Cidr {
  readonly base: number;
  readonly bits: number;
}

const PRIVATE: readonly string[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];

function parse(text: string): Cidr | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (match === null) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const bits = Number(match[5]);
  if (octets.some((o) => o > 255) || bits > 32) return undefined;
  const base = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - bits);
  return base % size === 0 ? { base, bits } : undefined;
}

function contains(outer: Cidr, inner: Cidr): boolean {
  return (
    inner.bits >= outer.bits && Math.floor(inner.base / 2 ** (32 - outer.bits)) === outer.base / 2 ** (32 - outer.bits)
  );
}

/** A private (RFC 1918) IPv4 range from /8 to /28 with its host bits zero, or undefined. */
export function parseCidr(text: string): Cidr | undefined {
  const cidr = parse(text);
  if (cidr === undefined || cidr.bits < 8 || cidr.bits > 28) return undefined;
  return PRIVATE.some((p) => contains(parse(p) as Cidr, cidr)) ? cidr : undefined;
}

export function cidrsOverlap(a: string, b: string): boolean {
  const x = parse(a);
  const y = parse(b);
  return x !== undefined && y !== undefined && (contains(x, y) || contains(y, x));
}

/** The network address and prefix length, as google_compute_global_address wants them. */
export function splitCidr(text: string): { address: string; prefixLength: number } {
  const [address = '', bits = ''] = text.split('/');
  return { address, prefixLength: Number(bits) };
}
