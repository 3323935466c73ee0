// Goals are data: each drill lists the goals it must meet, the report shows
// each one's measured value and verdict, and the CLI exits non-zero when one
// fails. The factories below cover the goals the drills of the twin share;
// a drill may add its own from facts its fault recorded.

import type { DrillMeasures } from './analysis.js';

export type Facts = Readonly<Record<string, number | string | boolean>>;

export interface Goal {
  readonly id: string;
  readonly description: string;
  evaluate(m: DrillMeasures, facts: Facts): { pass: boolean; actual: string };
}

export interface GoalResult {
  readonly id: string;
  readonly description: string;
  readonly pass: boolean;
  readonly actual: string;
}

export function evaluateGoals(goals: readonly Goal[], m: DrillMeasures, facts: Facts): GoalResult[] {
  return goals.map((g) => {
    const { pass, actual } = g.evaluate(m, facts);
    return { id: g.id, description: g.description, pass, actual };
  });
}

export const min2xxFraction = (fraction: number): Goal => ({
  id: 'availability',
  description: `at least ${(fraction * 100).toFixed(2)} % of planned requests answered 2xx`,
  evaluate: (m) => ({
    pass: m.fraction2xx >= fraction,
    actual: `${(m.fraction2xx * 100).toFixed(3)} % (${m.total.ok2xx} of ${Math.max(m.planned, m.total.requests)})`,
  }),
});

export const noIncrementLostOrDoubled = (): Goal => ({
  id: 'counter-exact',
  description: 'database increase equals the 2xx count after replay; no value handed out twice among exact answers',
  evaluate: (m) => {
    const c = m.counter;
    if (c === undefined) return { pass: false, actual: 'counter not read' };
    return {
      pass: c.lost === 0 && c.extra === 0 && c.duplicateExactValues === 0,
      actual: `increase ${c.databaseIncrease}, 2xx ${c.ok2xx}, lost ${c.lost}, extra ${c.extra}, duplicate exact values ${c.duplicateExactValues}`,
    };
  },
});

export const exactAgainWithin = (ms: number): Goal => ({
  id: 'exact-again',
  description: `every answer exact again within ${ms / 1000} s of the fault`,
  evaluate: (m) => ({ pass: m.exactAgainMs <= ms, actual: `${(m.exactAgainMs / 1000).toFixed(2)} s` }),
});

export const maxFailures = (limit: number | ((facts: Facts) => number), label = String(limit)): Goal => ({
  id: 'failures',
  description: `at most ${label} failed requests`,
  evaluate: (m, facts) => {
    const failed = Math.max(m.planned, m.total.requests) - m.total.ok2xx;
    const bound = typeof limit === 'number' ? limit : limit(facts);
    return { pass: failed <= bound, actual: `${failed} (limit ${bound})` };
  },
});

export const p99DuringAtMost = (ms: number): Goal => ({
  id: 'p99-during',
  description: `p99 latency during the fault at most ${ms} ms`,
  evaluate: (m) => ({ pass: m.during.p99Ms <= ms, actual: `${m.during.p99Ms} ms` }),
});

/** A goal on a fact the drill's fault recorded (e.g. audit results, ejection time). */
export const factGoal = (
  id: string,
  description: string,
  test: (facts: Facts) => { pass: boolean; actual: string },
): Goal => ({ id, description, evaluate: (_m, facts) => test(facts) });
