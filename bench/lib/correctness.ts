// The check every benchmark run makes: each counter value received is
// recorded, and the run fails if an exact value was handed out twice or if
// the database grew by anything other than the number of 2xx answers (when
// the database is reachable). Unique values, all inside (before, after], and
// as many as the increase, together mean the values are exactly
// before+1..after. Two allowances, both from the service's contract
// (docs/counter.md): a `provisional` value (degraded mode) may repeat another
// one, so only exact values must be unique, but each still counts as an
// increment; and a request that reached the service but got no answer (the
// generator's timeout, a reset) may or may not have been counted, so with N
// of those the increase may exceed the 2xx count by at most N.

export class CounterLedger {
  private values: number[] = [];
  private answers2xx = 0;
  private provisional = 0;
  private missing = 0;
  private unanswered = 0;

  /** One outcome, as the open-loop generator reports it. */
  add(sample: { status: number; counter?: number; consistency?: string; notSent?: boolean }): void {
    if (sample.status === 0) {
      if (sample.notSent !== true) this.unanswered += 1;
      return;
    }
    if (sample.status < 200 || sample.status >= 300) return;
    this.answers2xx += 1;
    if (sample.counter === undefined) this.missing += 1;
    else if (sample.consistency === 'provisional') this.provisional += 1;
    else this.values.push(sample.counter);
  }

  get provisionalAnswers(): number {
    return this.provisional;
  }

  get count2xx(): number {
    return this.answers2xx;
  }

  check(database?: { before: number; after: number }): Correctness {
    const sorted = Float64Array.from(this.values).sort();
    let duplicates = 0;
    let firstDuplicate: number | undefined;
    for (let i = 1; i < sorted.length; i += 1) {
      if (sorted[i] === sorted[i - 1]) {
        duplicates += 1;
        firstDuplicate ??= sorted[i];
      }
    }
    const problems: string[] = [];
    if (duplicates > 0) problems.push(`${duplicates} values handed out more than once (first: ${firstDuplicate})`);
    if (this.missing > 0) problems.push(`${this.missing} 2xx answers without a counter`);
    let outside = 0;
    if (database !== undefined) {
      const increase = database.after - database.before;
      outside = sorted.filter((v) => v <= database.before || v > database.after).length;
      if (increase < this.answers2xx || increase > this.answers2xx + this.unanswered)
        problems.push(
          `database +${increase} but ${this.answers2xx} 2xx answers and ${this.unanswered} sent requests without an answer`,
        );
      if (outside > 0)
        problems.push(`${outside} values outside the database's range (${database.before}, ${database.after}]`);
    }
    return {
      ok: problems.length === 0,
      answers2xx: this.answers2xx,
      provisional: this.provisional,
      unanswered: this.unanswered,
      uniqueValues: sorted.length - duplicates,
      duplicates,
      databaseIncrease: database === undefined ? null : database.after - database.before,
      summary:
        problems.length > 0
          ? `FAILED: ${problems.join('; ')}`
          : database === undefined
            ? `ok: ${this.answers2xx} 2xx answers, exact values unique (no database access: increase not checked)`
            : `ok: ${this.answers2xx} 2xx answers, exact values unique, database +${database.after - database.before}` +
              (this.provisional > 0 ? ` (${this.provisional} provisional)` : '') +
              (this.unanswered > 0 ? ` (${this.unanswered} sent requests unanswered)` : ''),
    };
  }
}

export interface Correctness {
  readonly ok: boolean;
  readonly answers2xx: number;
  readonly provisional: number;
  /** Sent requests that got no answer: each may or may not have been counted. */
  readonly unanswered: number;
  readonly uniqueValues: number;
  readonly duplicates: number;
  /** null when the run had no access to the database. */
  readonly databaseIncrease: number | null;
  readonly summary: string;
}
