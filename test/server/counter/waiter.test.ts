// The request deadline (waiter.ts): it passes by itself at its time, and the
// HTTP layer can end it early when the client goes; either way each listener
// runs once, so a waiting request is answered once.

import test from 'ava';
import { deadlineAfter, Waiter } from '../../../server/counter/waiter.js';

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

test('abort() ends a deadline at once and runs each listener once, even after its time passes', async (t) => {
  const deadline = deadlineAfter(50);
  let runs = 0;
  deadline.addEventListener('abort', () => (runs += 1));
  t.false(deadline.aborted);
  deadline.abort();
  deadline.abort();
  t.true(deadline.aborted);
  t.is(runs, 1);
  await tick(100);
  t.is(runs, 1);
});

test('a listener added after abort() still runs, once', async (t) => {
  const deadline = deadlineAfter(5000);
  deadline.abort();
  let runs = 0;
  deadline.addEventListener('abort', () => (runs += 1));
  await tick();
  t.is(runs, 1);
});

test('without abort() the deadline passes at its time', async (t) => {
  const deadline = deadlineAfter(30);
  let runs = 0;
  deadline.addEventListener('abort', () => (runs += 1));
  await tick(80);
  t.true(deadline.aborted);
  t.is(runs, 1);
});

test('a watched waiter is answered 503 the moment its deadline is aborted, and a late value is refused', async (t) => {
  const deadline = deadlineAfter(5000);
  const outcome = Waiter.promise(deadline, (waiter) => {
    waiter.watch();
    deadline.abort();
    t.false(waiter.resolve({ value: 1, consistency: 'exact' }));
  });
  await t.throwsAsync(outcome, { message: /deadline/ });
});
