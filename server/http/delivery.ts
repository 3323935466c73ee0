// Accounting of counter values handed to clients. The server cannot know
// whether a response reached the client, but it knows every value it took
// from the counter and whether the response carrying it was written in full
// (handed to the kernel). Every value is therefore either a written 2xx or a
// logged, counted undelivered value, so that:
//
//   database increase == values handed out == 2xx written + undelivered
//
// (docs/counter.md; degraded-mode values reach the database when replayed).

import type { Socket } from 'node:net';
import type { Request, Response } from 'express';
import type { Logger } from '../log.js';
import type { HttpMetrics } from '../metrics.js';
import type { RequestDeadline } from '../counter/types.js';

export interface Delivery {
  /** True when the client is already gone, so no value should be taken for it. */
  gone(req: Request, res: Response): boolean;
  /**
   * Watches a request that is about to ask for a value, with one listener on
   * its response (and a hook on its connection while it waits): when the connection
   * closes before the response is written, the deadline ends, so a request
   * still waiting never takes a value; a value already handed out whose
   * response was not written in full is logged and counted as undelivered.
   */
  watch(req: Request, res: Response, deadline: RequestDeadline | undefined): Watched;
}

export interface Watched {
  /**
   * Records a value taken for this request. Returns false (and has logged
   * the value as undelivered) if it cannot be written.
   */
  handOut(value: number, consistency: string): boolean;
}

/**
 * Runs the registered callbacks when a connection closes, with one listener
 * per connection: adding and removing a socket listener on every request cost
 * more CPU than the rest of the accounting (docs/benchmarks.md).
 */
export function connectionCloseHooks(): (socket: Socket, hook: () => void) => () => void {
  const hooks = new WeakMap<Socket, Set<() => void>>();
  return (socket, hook) => {
    let set = hooks.get(socket);
    if (set === undefined) {
      const created = new Set<() => void>();
      hooks.set(socket, created);
      socket.once('close', () => {
        for (const run of created) run();
        created.clear();
      });
      set = created;
    }
    const registered = set;
    registered.add(hook);
    return () => registered.delete(hook);
  };
}

export function createDelivery(log: Logger, metrics: HttpMetrics | undefined): Delivery {
  const onConnectionClose = connectionCloseHooks();
  const lost = (res: Response, value: number, consistency: string, reason: string) => {
    metrics?.undelivered(reason);
    log.warn(
      { ...(res.locals.logFields as object | undefined), counter: value, consistency, reason },
      'counter value handed out but its response was not delivered',
    );
  };
  return {
    gone: (req, res) => res.destroyed || req.socket.destroyed || res.writableEnded,
    watch(req, res, deadline) {
      // The response's close covers the request being answered; the socket's
      // covers a pipelined request queued behind it (its response never closes).
      const socket = req.socket;
      const forget = deadline === undefined ? undefined : onConnectionClose(socket, () => deadline.abort());
      let handed: { readonly value: number; readonly consistency: string } | undefined;
      let closed = false;
      // `on` with a flag rather than `once`, which wraps every listener.
      res.on('close', () => {
        if (closed) return;
        closed = true;
        forget?.();
        deadline?.abort();
        // writableFinished: end() was called and every byte reached the
        // kernel ('finish' has been emitted).
        if (handed !== undefined && !res.writableFinished) {
          lost(res, handed.value, handed.consistency, 'closed_while_writing');
        }
      });
      return {
        handOut(value, consistency) {
          metrics?.handedOut();
          if (res.destroyed || socket.destroyed || !socket.writable) {
            lost(res, value, consistency, 'closed_before_response');
            return false;
          }
          handed = { value, consistency };
          return true;
        },
      };
    },
  };
}
