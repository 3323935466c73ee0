// The shape of one open-loop sample, shared with the benchmark generator
// (bench/open-loop.ts): one JSON object per line in the --samples file. The
// harness accepts any command that writes this NDJSON, so a drill can swap
// generators without changing its analysis.

import { readFileSync } from 'node:fs';

export interface Sample {
  /** When the request was scheduled to be sent (ms since the epoch). */
  readonly intendedAt: number;
  /** From the intended send time to the end of the response (coordinated omission). */
  readonly latencyMs: number;
  /** HTTP status; 0 means no response (timeout, reset, refused). */
  readonly status: number;
  readonly errorClass?: string;
  readonly counter?: number;
  readonly consistency?: string;
}

/** Reads an NDJSON samples file; a malformed line is an error naming its number. */
export function readSamples(file: string): Sample[] {
  const samples: Sample[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    const value = JSON.parse(line) as Partial<Sample>;
    if (
      typeof value.intendedAt !== 'number' ||
      typeof value.latencyMs !== 'number' ||
      typeof value.status !== 'number'
    ) {
      throw new Error(`${file}:${index + 1}: not a sample (needs intendedAt, latencyMs, status)`);
    }
    samples.push(value as Sample);
  });
  return samples.sort((a, b) => a.intendedAt - b.intendedAt);
}

export const is2xx = (s: Sample): boolean => s.status >= 200 && s.status < 300;

/** An answer is exact when it is 2xx and not marked provisional (absent header counts as exact). */
export const isExact = (s: Sample): boolean => is2xx(s) && s.consistency !== 'provisional';

/** The class a failed sample is counted under in reports. */
export function errorClassOf(s: Sample): string {
  if (s.errorClass !== undefined && s.errorClass !== '') return s.errorClass;
  return s.status === 0 ? 'no-response' : `http-${s.status}`;
}
