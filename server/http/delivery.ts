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

export interface Delivery {
  /** True when the client is already gone, so no value should be taken for it. */
  gone(req: Request, res: Response): boolean;
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
