// An in-memory stand-in for PostgreSQL's side of the batch ledger, for the
// deterministic tests of the allocator and the mode switch: the same
// statements by name (commit, commit many, lookup, fence, ping) with the same
// primary-key behaviour, and a switch that makes statements hang until the
// test lets them commit late or fail. The real database is covered by the
// ledger, allocator and end-to-end tests; this one makes timing exact.

import type { Db, Queryable } from '../../../server/db.js';

interface Stalled {
  readonly run: () => unknown[];
  readonly resolve: (rows: unknown[]) => void;
  readonly reject: (error: Error) => void;
}

const uniqueViolation = () =>
  Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });

export class FakeLedger implements Db {
  value = 0;
  readonly batches = new Map<string, { first: number; last: number } | null>();
  /** While true, every statement hangs until `release` or `drop`. */
  stalled = false;
  /** When set, only statements of this name hang while `stalled`; the database otherwise answers. */
  stallOnly: string | undefined;
  readonly hanging: Stalled[] = [];
  statements = 0;

  query<R = Record<string, unknown>>(_text: string, values: readonly unknown[] = [], name = 'adhoc'): Promise<R[]> {
    this.statements += 1;
    const run = () => this.execute(name, values);
    if (!this.stalled || (this.stallOnly !== undefined && name !== this.stallOnly)) {
      try {
        return Promise.resolve(run() as R[]);
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
    return new Promise<R[]>((resolve, reject) =>
      this.hanging.push({ run, resolve: resolve as (rows: unknown[]) => void, reject }),
    );
  }

  /** Lets every hanging statement run now (a late commit), and the database answer again. */
  release(): void {
    this.stalled = false;
    this.stallOnly = undefined;
    for (const s of this.hanging.splice(0)) {
      try {
        s.resolve(s.run());
      } catch (error) {
        s.reject(error as Error);
      }
    }
  }

  /** Fails every hanging statement without running it (connection lost), and the database answers again. */
  drop(): void {
    this.stalled = false;
    this.stallOnly = undefined;
    for (const s of this.hanging.splice(0)) s.reject(new Error('Connection terminated unexpectedly'));
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return fn(this);
  }

  session<T>(fn: (s: Queryable) => Promise<T>): Promise<T> {
    return fn(this);
  }

  ping(): Promise<void> {
    return this.stalled && this.stallOnly === undefined ? Promise.reject(new Error('timeout')) : Promise.resolve();
  }

  stats() {
    return { total: 0, idle: 0, waiting: 0 };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private execute(name: string, values: readonly unknown[]): unknown[] {
    switch (name) {
      case 'batch_commit': {
        const [id, n] = values as [string, number];
        if (this.batches.has(id)) throw uniqueViolation();
        return [this.commit(id, n)];
      }
      case 'batch_commit_many': {
        const [ids, ns] = values as [string[], number[]];
        if (ids.some((id) => this.batches.has(id))) throw uniqueViolation();
        return ids.map((id, i) => ({ id, ...this.commit(id, ns[i] as number) }));
      }
      case 'batch_lookup': {
        const row = this.batches.get(values[0] as string);
        if (row === undefined) return [];
        return [row ?? { first: null, last: null }];
      }
      case 'batch_fence': {
        const id = values[0] as string;
        if (!this.batches.has(id)) this.batches.set(id, null);
        return [];
      }
      default:
        throw new Error(`the fake ledger does not know statement ${name}`);
    }
  }

  private commit(id: string, n: number): { first: number; last: number } {
    const range = { first: this.value + 1, last: this.value + n };
    this.value += n;
    this.batches.set(id, range);
    return range;
  }
}
