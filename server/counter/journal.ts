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

import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { procStatFields } from '../proc-stat.js';
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

/** The part of a file handle the journal uses (a seam for injecting short writes in tests). */
export interface JournalFile {
  write(buffer: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

export interface JournalOptions {
  readonly dir: string;
  readonly workerId: number;
  /** Called after every write+fsync (metrics). */
  readonly onSync?: (seconds: number, records: number) => void;
  /** Opens the journal file for appending (default: fs.open with mode 0640). */
  readonly openFile?: (file: string) => Promise<JournalFile>;
  /**
   * Most entries pending at once (default DEFAULT_MAX_ENTRIES): memory and
   * replay work stay bounded in a long outage, and an add past it is
   * refused (JournalFullError, answered 503) instead of growing without end.
   */
  readonly maxEntries?: number;
}

export const DEFAULT_MAX_ENTRIES = 100_000;

/** The journal holds `maxEntries` pending entries: nothing more is acknowledged until replay frees some. */
export class JournalFullError extends Error {
  constructor(readonly maxEntries: number) {
    super(`journal full: ${maxEntries} entries pending, none accepted until the database takes them`);
    this.name = 'JournalFullError';
  }
}

interface Queued {
  /** A record to append, or undefined for "delete the file if nothing is pending". */
  readonly line: string | undefined;
  /** The id an add record carries: voided if its write fails after bytes may have reached the disk. */
  readonly addId?: string;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Ids whose add may be on disk unacknowledged; beyond this many the oldest are only logged. */
const MAX_UNVOIDED = 100_000;

/** Appends all of `data`: a short write is neither an error nor success, so it loops (as sonic-boom does). */
export async function writeFully(file: JournalFile, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length;) {
    const { bytesWritten } = await file.write(data, offset, data.length - offset);
    if (bytesWritten <= 0) throw new Error(`journal write made no progress at byte ${offset} of ${data.length}`);
    offset += bytesWritten;
  }
}

/** This process's start time in clock ticks since boot (Linux), so pid reuse is detectable. */
function startTicks(pid: number): string | undefined {
  return procStatFields(pid)?.[19];
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

/** Folds journal lines, one at a time, into the entries not yet applied. */
class PendingSet {
  private readonly pending = new Map<string, JournalEntry>();
  torn = 0;

  line(line: string): void {
    if (line === '') return;
    let record: JournalRecord;
    try {
      record = JSON.parse(line) as JournalRecord;
    } catch {
      this.torn += 1;
      return;
    }
    // A later add under the same id lowers its size (surplus taken off); done settles it.
    if (record.op === 'add' && Number.isSafeInteger(record.n) && record.n > 0)
      this.pending.set(record.id, { id: record.id, n: record.n, at: record.at });
    else if (record.op === 'done') this.pending.delete(record.id);
    else this.torn += 1;
  }

  result(): { entries: JournalEntry[]; torn: number } {
    return { entries: [...this.pending.values()], torn: this.torn };
  }
}

/** Parses a journal file's text into the entries not yet applied, in order. */
export function pendingEntries(text: string): { entries: JournalEntry[]; torn: number } {
  const set = new PendingSet();
  for (const line of text.split('\n')) set.line(line);
  return set.result();
}

/** Reads a journal file line by line (never whole) into the entries not yet applied, in order. */
export async function readPendingEntries(file: string): Promise<{ entries: JournalEntry[]; torn: number }> {
  const set = new PendingSet();
  const stream = createReadStream(file, { encoding: 'utf8' });
  for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) set.line(line);
  return set.result();
}

export class Journal {
  readonly path: string;
  private handle: JournalFile | undefined;
  private readonly queue: Queued[] = [];
  private writing: Promise<void> | undefined;
  private readonly durable = new Map<string, JournalEntry>();
  private pendingCount = 0;
  /** Adds queued and not yet settled: they count against maxEntries too. */
  private adding = 0;
  private readonly maxEntries: number;
  /** A failed write may have left a partial line: the next write starts on a new line. */
  private tornTail = false;
  /**
   * Ids whose add record may have reached the disk although the write failed
   * (answered 503): a `done` record without a range voids each, written with
   * the next group. Until then they are also fenced in the database when it
   * answers (see DegradedCounter), so no replay can count them.
   */
  private readonly unvoided = new Set<string>();

  constructor(private readonly options: JournalOptions) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
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

  /** True while `id` is durable and not yet applied. */
  has(id: string): boolean {
    return this.durable.has(id);
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

  /** True when an add would be refused (maxEntries pending or being written). */
  get full(): boolean {
    return this.durable.size + this.adding >= this.maxEntries;
  }

  /** Records `n` increments under `id`; resolves once they are on disk. Rejects with JournalFullError when full. */
  async add(id: string, n: number): Promise<void> {
    if (this.full) throw new JournalFullError(this.maxEntries);
    const entry: JournalEntry = { id, n, at: Date.now() };
    this.pendingCount += n;
    this.adding += 1;
    try {
      await this.push(`${JSON.stringify({ op: 'add', ...entry } satisfies AddRecord)}\n`, id);
      this.durable.set(id, entry);
    } catch (error) {
      this.pendingCount -= n;
      throw error;
    } finally {
      this.adding -= 1;
    }
  }

  /**
   * Lowers a pending entry to `n` increments (0 voids it), durably: used for
   * increments journaled for requests that were answered 503 meanwhile.
   * Only for entries no statement has been sent for.
   */
  async shrink(id: string, n: number): Promise<void> {
    const entry = this.durable.get(id);
    if (entry === undefined || n >= entry.n || n < 0) return;
    const record: JournalRecord = n === 0 ? { op: 'done', id } : { op: 'add', id, n, at: entry.at };
    await this.push(`${JSON.stringify(record)}\n`);
    if (this.durable.get(id) !== entry) return;
    this.pendingCount -= entry.n - n;
    if (n === 0) this.durable.delete(id);
    else this.durable.set(id, { ...entry, n });
  }

  /**
   * Moves a pending entry to a new id, durably, in one write (the new add,
   * then a done for the old id): used once the old id is fenced in the
   * database, so that its size can then be lowered like any other entry's.
   */
  async replace(id: string, newId: string): Promise<void> {
    const entry = this.durable.get(id);
    if (entry === undefined) return;
    const moved: JournalEntry = { ...entry, id: newId };
    await this.push(`${JSON.stringify({ op: 'add', ...moved } satisfies AddRecord)}\n${doneLine(id)}`);
    if (this.durable.get(id) !== entry) return;
    this.durable.delete(id);
    this.durable.set(newId, moved);
  }

  /** Ids that failed to be written and may still be on disk without their void record. */
  unvoidedIds(): string[] {
    return [...this.unvoided];
  }

  /** The database has fenced `id`: no replay anywhere can apply it now. */
  fenced(id: string): void {
    this.unvoided.delete(id);
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

  private push(line: string | undefined, addId?: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line, addId, resolve, reject });
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
      const voids = [...this.unvoided];
      const started = process.hrtime.bigint();
      let written = false;
      try {
        const handle = await this.open();
        const text =
          (this.tornTail ? '\n' : '') + voids.map((id) => doneLine(id)).join('') + group.map((q) => q.line).join('');
        written = true;
        await writeFully(handle, Buffer.from(text, 'utf8'));
        await handle.datasync();
        this.tornTail = false;
        for (const id of voids) this.unvoided.delete(id);
        this.options.onSync?.(Number(process.hrtime.bigint() - started) / 1e9, group.length);
        for (const q of group) q.resolve();
      } catch (error) {
        // A failed write leaves the file in an unknown state: reopen next time,
        // on a new line, and void every add of the group that may be on disk.
        await this.handle?.close().catch(() => undefined);
        this.handle = undefined;
        if (written) {
          this.tornTail = true;
          for (const q of group) if (q.addId !== undefined) this.rememberUnvoided(q.addId);
        }
        const failure = error instanceof Error ? error : new Error(String(error));
        for (const q of group) q.reject(failure);
      }
    }
  }

  private rememberUnvoided(id: string): void {
    if (this.unvoided.size >= MAX_UNVOIDED) {
      const [oldest] = this.unvoided;
      if (oldest !== undefined) this.unvoided.delete(oldest);
    }
    this.unvoided.add(id);
  }

  private async retireNow(): Promise<void> {
    // Adds count as pending from the moment they are queued, so zero here
    // means no entry is on disk unapplied and none is waiting to be written.
    if (this.pendingCount !== 0) return;
    await this.handle?.close();
    this.handle = undefined;
    await fs.rm(this.path, { force: true });
    // The file is gone, and with it every add that needed voiding.
    this.unvoided.clear();
    this.tornTail = false;
  }

  private async open(): Promise<JournalFile> {
    if (this.handle !== undefined) return this.handle;
    await fs.mkdir(this.options.dir, { recursive: true, mode: 0o750 });
    const handle = await (this.options.openFile ?? ((file: string) => fs.open(file, 'a', 0o640)))(this.path);
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
