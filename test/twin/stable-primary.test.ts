// The twin's start waits until its stable address leads only to the primary:
// a first answer can come from the standby that HAProxy has not yet marked
// down, and the next connection then be cut (seen in CI: "SSL SYSCALL error:
// EOF detected" on the statement after a successful SELECT 1).

import test from 'ava';
import { waitForStablePrimary } from '../../twin/db/stable-primary.js';

type Answer = 'primary' | 'standby' | 'cut';

function scripted(answers: readonly Answer[]) {
  let clock = 0;
  let calls = 0;
  const probe = () => {
    const answer = answers[Math.min(calls, answers.length - 1)];
    calls += 1;
    if (answer === 'cut') return Promise.reject(new Error('SSL SYSCALL error: EOF detected'));
    return Promise.resolve(answer === 'primary');
  };
  const options = {
    consecutive: 3,
    spanMs: 1500,
    intervalMs: 250,
    timeoutMs: 10_000,
    now: () => clock,
    sleep: (ms: number) => {
      clock += ms;
      return Promise.resolve();
    },
  };
  return { probe, options, calls: () => calls, clock: () => clock };
}

test('a first answer from the standby, then a cut connection, does not end the wait', async (t) => {
  // The sequence CI hit: SELECT 1 answered (by the standby), the next connection cut.
  const s = scripted(['standby', 'cut', 'primary', 'primary', 'primary', 'primary', 'primary', 'primary', 'primary']);
  await waitForStablePrimary(s.probe, s.options);
  t.true(s.calls() >= 9, `returned after ${s.calls()} probes`);
});

test('answers from the primary must be consecutive and span the check window', async (t) => {
  const s = scripted([
    'primary',
    'primary',
    'cut',
    'primary',
    'primary',
    'primary',
    'primary',
    'primary',
    'primary',
    'primary',
  ]);
  await waitForStablePrimary(s.probe, s.options);
  // Three in a row are not enough until they span 1.5 s: 7 primaries from the 4th probe.
  t.is(s.calls(), 10);
});

test('a stable address that never settles fails at the timeout, naming the last failure', async (t) => {
  const s = scripted(['primary', 'standby']);
  const error = await t.throwsAsync(waitForStablePrimary(s.probe, s.options));
  t.regex(error?.message ?? '', /did not settle on the primary within 10000 ms: the stable address reached a standby/);
  t.true(s.clock() > 10_000 && s.clock() <= 10_500, `gave up at ${s.clock()} ms`);
});
