// The patch pipeline's soak judges the load balancer's 5xx share from a
// Monitoring answer; no traffic at all fails (no signal is not a pass).

import test from 'ava';
import { countRequests, judge, parseSoakArgs } from '../../terraform/soak.js';

const series = (cls: string, ...values: number[]) => ({
  metric: { labels: { response_code_class: cls } },
  points: values.map((v) => ({ value: { int64Value: String(v) } })),
});

test('soak: counts requests and 5xx by response class', (t) => {
  t.deepEqual(countRequests({ timeSeries: [series('200', 990, 5), series('500', 3), series('400', 2)] }), {
    requests: 1000,
    errors: 3,
  });
  t.deepEqual(countRequests({}), { requests: 0, errors: 0 });
});

test('soak: fails above the limit and on no traffic, passes at or below it', (t) => {
  t.is(judge({ requests: 1000, errors: 1 }, 0.001), undefined);
  t.regex(judge({ requests: 1000, errors: 2 }, 0.001) ?? '', /exceeds 0.001/);
  t.regex(judge({ requests: 0, errors: 0 }, 0.001) ?? '', /no signal/);
});

test('soak: arguments are bounded', (t) => {
  t.deepEqual(parseSoakArgs([]), { minutes: 15, maxErrorRatio: 0.001 });
  t.deepEqual(parseSoakArgs(['--minutes', '20', '--max-error-ratio', '0']), { minutes: 20, maxErrorRatio: 0 });
  t.throws(() => parseSoakArgs(['--minutes', '0']), { message: /--minutes/ });
  t.throws(() => parseSoakArgs(['--minutes', '1.5']), { message: /--minutes/ });
  t.throws(() => parseSoakArgs(['--max-error-ratio', '1']), { message: /--max-error-ratio/ });
  t.throws(() => parseSoakArgs(['--max-error-ratio', 'x']), { message: /--max-error-ratio/ });
});
