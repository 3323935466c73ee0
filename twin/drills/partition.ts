// Drill `partition`: every packet between the fleet and the database's
// stable address is dropped for 10 s (a silent database: no reset, no
// refusal), then the network heals. Goals as `failover`.

import { databaseStatus, partition } from '../db/index.js';
import { exactAgainWithin, min2xxFraction, noIncrementLostOrDoubled } from './goals.js';
import type { DrillSpec } from './harness.js';

export const PARTITION_S = Number(process.env.TWIN_PARTITION_S ?? 10);

export const drill: DrillSpec = {
  name: 'partition',
  description: `packets between the fleet (10.89.0.11-39) and the database dropped for ${PARTITION_S} s, then healed.`,
  rate: 1000,
  durationS: 40,
  faultAtS: 10,
  goals: [min2xxFraction(0.9999), noIncrementLostOrDoubled(), exactAgainWithin(PARTITION_S * 1000 + 30_000)],
  async setup() {
    const status = await databaseStatus();
    if (status.primary === undefined) throw new Error(`the database has no primary: ${JSON.stringify(status)}`);
  },
  async fault(ctx) {
    await partition(true);
    ctx.fact('partitionS', PARTITION_S);
    await new Promise((r) => setTimeout(r, PARTITION_S * 1000));
    await partition(false);
  },
  async cleanup() {
    await partition(false);
  },
};
