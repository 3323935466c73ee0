// Accounting of counter values handed to clients. The server cannot know
// whether a response reached the client, but it knows every value it took
// from the counter and whether the response carrying it was written in full
// (handed to the kernel). Every value is therefore either a written 2xx or a
// logged, counted undelivered value, so that:
//
//   database increase == values handed out == 2xx written + undelivered
//
// (docs/counter.md; degraded-mode values reach the database when replayed).

import type { Request, Response } from 'express';
import type { Logger } from '../log.js';
import type { HttpMetrics } from '../metrics.js';
import type { RequestDeadline } from '../counter/types.js';

export interface Delivery {
  /** True when the client is already gone, so no value should be taken for it. */
  gone(req: Request, res: Response): boolean;
  /**
   * Watches a request that is about to ask for a value, with one listener on
   * its response (and one on its socket while it waits): when the connection
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

export function createDelivery(log: Logger, metrics: HttpMetrics | undefined): Delivery {
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
      const abort = () => deadline?.abort();
      if (deadline !== undefined) socket.once('close', abort);
      let handed: { readonly value: number; readonly consistency: string } | undefined;
      res.once('close', () => {
        if (deadline !== undefined) socket.off('close', abort);
        abort();
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
