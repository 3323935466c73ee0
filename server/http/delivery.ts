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
   * Ends the request's deadline when its connection closes before the
   * response is written: a request still waiting for a value then never
   * takes one; a value already taken is accounted for by `handOut`.
   */
  abortWhenGone(req: Request, res: Response, deadline: RequestDeadline): void;
  /**
   * Records a value taken for this request and watches its response. Returns
   * false (and has logged the value as undelivered) if it cannot be written.
   */
  handOut(req: Request, res: Response, value: number, consistency: string): boolean;
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
    abortWhenGone(req, res, deadline) {
      // The response's close covers the request being answered; the socket's
      // covers a pipelined request queued behind it (its response never closes).
      const socket = req.socket;
      const abort = () => deadline.abort();
      socket.once('close', abort);
      res.once('close', () => {
        socket.off('close', abort);
        abort();
      });
    },
    handOut(req, res, value, consistency) {
      metrics?.handedOut();
      if (res.destroyed || req.socket.destroyed || !req.socket.writable) {
        lost(res, value, consistency, 'closed_before_response');
        return false;
      }
      let finished = false;
      res.once('finish', () => {
        finished = true;
      });
      res.once('close', () => {
        if (!finished) lost(res, value, consistency, 'closed_while_writing');
      });
      return true;
    },
  };
}
