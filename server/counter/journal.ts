// The durable local journal of degraded mode. While the database cannot
// answer, every increment is appended here and fsynced before its response
// is sent, so an acknowledged increment survives a crash of the process or
// the machine's power. Writes are group-committed: one write+fdatasync at a
// time, carrying every record queued meanwhile.
//
// One file per process (`journal-w<worker>-p<pid>-s<start ticks>.jsonl`),
// JSON lines: {"op":"add","id","n","at"} when increments are made durable,
// {"op":"done","id","first","last"} once the database has them. A torn last
// line (a crash mid-write, never acknowledged) is ignored on reading. The
// owner's pid and start time in the name let any worker tell whether the
// owner is gone, so a file left by a dead process is replayed by another.

import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Range } from './ledger.js';

export interface JournalEntry {
  readonly id: string;
  readonly n: number;
  /** When the entry was written (ms since epoch). */
  readonly at: number;
}

type AddRecord = { op: 'add'; id: string; n: number; at: number };
/** No range: the id was fenced and will never be applied. */
type DoneRecord = { op: 'done'; id: string; first?: number; last?: number };
type JournalRecord = AddRecord | DoneRecord;

export interface JournalOptions {
  readonly dir: string;
  readonly workerId: number;
  /** Called after every write+fsync (metrics). */
  readonly onSync?: (seconds: number, records: number) => void;
}

interface Queued {
  /** A record to append, or undefined for "delete the file if nothing is pending". */
  readonly line: string | undefined;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** This process's start time in clock ticks since boot (Linux), so pid reuse is detectable. */
function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const FILE_NAME = /^journal-w(\d+)-p(\d+)-s(\w+)\.jsonl$/;

/** True if the process that wrote this journal file is still running. */
export function ownerAlive(fileName: string): boolean {
  const match = FILE_NAME.exec(fileName);
  if (match === null) return false;
  const pid = Number(match[2]);
  const ticks = startTicks(pid);
  if (ticks !== undefined) return ticks === match[3];
  if (match[3] !== 'x') return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The journal line that settles `id` (shared with the replay of orphaned files). */
export function doneLine(id: string, range?: Range): string {
  const record: DoneRecord =
    range === undefined ? { op: 'done', id } : { op: 'done', id, first: range.first, last: range.last };
  return `${JSON.stringify(record)}\n`;
}

export function isJournalFile(fileName: string): boolean {
  return FILE_NAME.test(fileName);
}

/** Parses a journal file's text into the entries not yet applied, in order. */
export function pendingEntries(text: string): { entries: JournalEntry[]; torn: number } {
  const pending = new Map<string, JournalEntry>();
  let torn = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let record: JournalRecord;
    try {
      record = JSON.parse(line) as JournalRecord;
    } catch {
      torn += 1;
      continue;
    }
    if (record.op === 'add' && Number.isSafeInteger(record.n) && record.n > 0)
      pending.set(record.id, { id: record.id, n: record.n, at: record.at });
    else if (record.op === 'done') pending.delete(record.id);
    else torn += 1;
  }
  return { entries: [...pending.values()], torn };
}

export class Journal {
  readonly path: string;
  private handle: fs.FileHandle | undefined;
  private readonly queue: Queued[] = [];
  private writing: Promise<void> | undefined;
  private readonly durable = new Map<string, JournalEntry>();
  private pendingCount = 0;

  constructor(private readonly options: JournalOptions) {
    const ticks = startTicks(process.pid) ?? 'x';
    this.path = path.join(options.dir, `journal-w${options.workerId}-p${process.pid}-s${ticks}.jsonl`);
  }

  /** Increments recorded durably (or being recorded) and not yet applied to the database. */
  get pendingIncrements(): number {
    return this.pendingCount;
  }

  /** Durable entries not yet applied. */
  get entryCount(): number {
    return this.durable.size;
  }

  /** The `limit` oldest durable entries not yet applied, without copying the rest. */
  oldest(limit: number): JournalEntry[] {
    const out: JournalEntry[] = [];
    for (const entry of this.durable.values()) {
      if (out.length >= limit) break;
      out.push(entry);
    }
    return out;
  }

  /** Records `n` increments under `id`; resolves once they are on disk. */
  async add(id: string, n: number): Promise<void> {
    const entry: JournalEntry = { id, n, at: Date.now() };
    this.pendingCount += n;
    try {
      await this.push(`${JSON.stringify({ op: 'add', ...entry } satisfies AddRecord)}\n`);
      this.durable.set(id, entry);
    } catch (error) {
      this.pendingCount -= n;
      throw error;
    }
  }

  /** Records that `id` is settled: applied (with its range) or fenced. Not waited on: replay is idempotent. */
  done(id: string, range?: Range): void {
    const entry = this.durable.get(id);
    if (entry === undefined) return;
    this.durable.delete(id);
    this.pendingCount -= entry.n;
    this.push(doneLine(id, range)).catch(() => undefined);
  }

  /** Waits for queued writes and closes the file; deletes it if nothing in it is pending. */
  async close(): Promise<void> {
    await this.retire();
    while (this.writing !== undefined) await this.writing;
    await this.handle?.close();
    this.handle = undefined;
  }

  /**
   * Deletes the file if every entry in it is applied. Queued behind the writes
   * before it, so an entry added meanwhile is never deleted with the file.
   */
  retire(): Promise<void> {
    return this.push(undefined);
  }

  private push(line: string | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line, resolve, reject });
      this.writing ??= this.drain().finally(() => {
        this.writing = undefined;
      });
    });
  }

  /** One write+fdatasync per group of queued records; a retire request ends a group. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const head = this.queue[0] as Queued;
      if (head.line === undefined) {
        this.queue.shift();
        await this.retireNow().then(head.resolve, head.reject);
        continue;
      }
      const end = this.queue.findIndex((q) => q.line === undefined);
      const group = this.queue.splice(0, end === -1 ? this.queue.length : end);
      const started = process.hrtime.bigint();
      try {
        const handle = await this.open();
        await handle.write(group.map((q) => q.line).join(''));
        await handle.datasync();
        this.options.onSync?.(Number(process.hrtime.bigint() - started) / 1e9, group.length);
        for (const q of group) q.resolve();
      } catch (error) {
        // A failed write leaves the file in an unknown state: reopen next time.
        await this.handle?.close().catch(() => undefined);
        this.handle = undefined;
        const failure = error instanceof Error ? error : new Error(String(error));
        for (const q of group) q.reject(failure);
      }
    }
  }

  private async retireNow(): Promise<void> {
    // Adds count as pending from the moment they are queued, so zero here
    // means no entry is on disk unapplied and none is waiting to be written.
    if (this.pendingCount !== 0) return;
    await this.handle?.close();
    this.handle = undefined;
    await fs.rm(this.path, { force: true });
  }

  private async open(): Promise<fs.FileHandle> {
    if (this.handle !== undefined) return this.handle;
    await fs.mkdir(this.options.dir, { recursive: true, mode: 0o750 });
    const handle = await fs.open(this.path, 'a', 0o640);
    // Make the new directory entry durable too, or a crash could lose the file.
    const dir = await fs.open(this.options.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    this.handle = handle;
    return handle;
  }
}
