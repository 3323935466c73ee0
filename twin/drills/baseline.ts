// Drill `baseline`: the same open-loop load with no fault, so every other
// drill's figures have a reference taken on the same machine the same day
// (what the twin carries at a rate before anything breaks).

import { maxFailures, min2xxFraction, noIncrementLostOrDoubled } from './goals.js';
import type { DrillSpec } from './harness.js';

export const drill: DrillSpec = {
  name: 'baseline',
  description: 'open-loop load with no fault: the reference for the other drills.',
  rate: 1000,
  durationS: 30,
  faultAtS: 0,
  goals: [min2xxFraction(0.9999), maxFailures(0), noIncrementLostOrDoubled()],
  async fault() {
    // no fault
  },
};
