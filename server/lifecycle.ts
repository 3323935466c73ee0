// Ordered start steps and close hooks for the process entry (after fastify's
// onClose and close-with-grace). Start steps run one after another and stop
// being run once shutdown begins; close hooks run in reverse order of
// registration, each bounded by what is left of the shutdown timeout, and a
// hook that fails is logged and does not stop the ones after it. `signal`
// aborts when shutdown begins, so a start step that waits (migrations while
// the database is down) stops waiting.

import type { Logger } from './log.js';
import { within } from './timing.js';

interface CloseHook {
  readonly name: string;
  readonly close: (deadline: number) => Promise<unknown>;
}

export class Lifecycle {
  private readonly hooks: CloseHook[] = [];
  private readonly aborter = new AbortController();
  private closing: Promise<boolean> | undefined;

  constructor(
    private readonly log: Logger,
    private readonly timeoutMs: number,
  ) {}

  get stopping(): boolean {
    return this.aborter.signal.aborted;
  }

  /** Aborted when shutdown begins. */
  get signal(): AbortSignal {
    return this.aborter.signal;
  }

  /** Runs a named start step, unless shutdown has begun (then undefined). */
  async start<T>(name: string, step: () => T | Promise<T>): Promise<T | undefined> {
    if (this.stopping) return undefined;
    this.log.debug({ step: name }, 'start step');
    return step();
  }

  /** Registers a close hook; hooks run in reverse order of registration. `deadline` is in ms since epoch. */
  onClose(name: string, close: (deadline: number) => Promise<unknown>): void {
    this.hooks.push({ name, close });
  }

  /** Runs every close hook once (later calls get the same result); true if all succeeded in time. */
  close(reason: string): Promise<boolean> {
    this.closing ??= this.runHooks(reason);
    return this.closing;
  }

  private async runHooks(reason: string): Promise<boolean> {
    this.aborter.abort();
    const deadline = Date.now() + this.timeoutMs;
    this.log.info({ reason }, 'shutting down: draining');
    let ok = true;
    for (const hook of [...this.hooks].reverse()) {
      try {
        if ((await within(hook.close(deadline), deadline - Date.now(), 'late' as const)) === 'late') {
          ok = false;
          this.log.error({ hook: hook.name, timeoutMs: this.timeoutMs }, 'close step did not finish in time');
        }
      } catch (err) {
        ok = false;
        this.log.error({ err, hook: hook.name }, 'close step failed');
      }
    }
    return ok;
  }
}
