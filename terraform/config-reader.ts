// A small reader over untyped JSON: each accessor returns a typed value (or
// its default) and records a problem naming the key when the value is wrong,
// so one run reports every mistake in an environment file at once.

export type Raw = Record<string, unknown>;

export class Reader {
  readonly problems: string[] = [];

  object(value: unknown, path: string): Raw {
    if (value === undefined || value === null) return {};
    if (typeof value === 'object' && !Array.isArray(value)) return value as Raw;
    this.problems.push(`${path} must be an object`);
    return {};
  }

  string(o: Raw, key: string, path: string, fallback: string | undefined, pattern: RegExp, rule: string): string {
    const value = o[key] ?? fallback;
    if (typeof value === 'string' && pattern.test(value)) return value;
    this.problems.push(`${path}${key} must be ${rule} (got ${JSON.stringify(value)})`);
    return fallback ?? '';
  }

  number(o: Raw, key: string, path: string, fallback: number, min: number, max: number): number {
    const value = o[key] ?? fallback;
    if (typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max) return value;
    this.problems.push(`${path}${key} must be a number from ${min} to ${max} (got ${JSON.stringify(value)})`);
    return fallback;
  }

  /** A list of strings each matching `pattern`, at most `max` long. */
  strings(o: Raw, key: string, path: string, pattern: RegExp, rule: string, max: number): string[] {
    const value = o[key] ?? [];
    if (
      Array.isArray(value) &&
      value.length <= max &&
      value.every((v): v is string => typeof v === 'string' && pattern.test(v))
    )
      return value;
    this.problems.push(`${path}${key} must be a list of at most ${max} ${rule} (got ${JSON.stringify(value)})`);
    return [];
  }

  oneOf<T extends string>(o: Raw, key: string, path: string, fallback: T, allowed: readonly T[]): T {
    const value = o[key] ?? fallback;
    if ((allowed as readonly unknown[]).includes(value)) return value as T;
    this.problems.push(`${path}${key} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
    return fallback;
  }
}
