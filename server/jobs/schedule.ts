// Runs a job on its node-cron schedule: named, never overlapping itself, and
// never throwing into the scheduler (a failed run is logged and retried at the
// next tick). pm2 cluster mode runs every worker's schedule, so a job that
// must run once across the fleet takes an advisory lock itself.

import { schedule, type ScheduledTask } from 'node-cron';
import type { Logger } from '../log.js';

export interface Job {
  readonly name: string;
  readonly cron: string;
  run(): Promise<unknown>;
}

export function startJob(job: Job, log: Logger): ScheduledTask {
  return schedule(
    job.cron,
    async () => {
      const started = Date.now();
      try {
        const result = await job.run();
        log.debug({ job: job.name, result, ms: Date.now() - started }, 'job finished');
      } catch (err) {
        log.warn({ job: job.name, err }, 'job failed; next run at its next tick');
      }
    },
    { name: job.name, noOverlap: true },
  );
}
