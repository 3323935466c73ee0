// The patch drill's pure parts: which candidate is the fix and which the
// vulnerable build (Debian's version ordering, not the order apt lists them),
// and the compliance verdict read from the audit's own per-host checks.
// No twin needed (dpkg compares the versions).

import test from 'ava';
import { choosePatchVersions, patchCompliance, sortVersionsNewestFirst } from '../../twin/patch.js';

test('sortVersionsNewestFirst: Debian ordering (~ sorts before anything, epochs win), duplicates dropped', async (t) => {
  t.deepEqual(await sortVersionsNewestFirst(['3.5.7-1~deb13u3', '3.5.9-1~deb13u1', '3.5.9-1', '3.5.7-1~deb13u3']), [
    '3.5.9-1',
    '3.5.9-1~deb13u1',
    '3.5.7-1~deb13u3',
  ]);
  t.deepEqual(await sortVersionsNewestFirst(['2.0-1', '1:1.0-1']), ['1:1.0-1', '2.0-1']);
});

test('choosePatchVersions: the newest is the fix, the one before it the vulnerable build', (t) => {
  t.deepEqual(choosePatchVersions(['3.5.9-1~deb13u1', '3.5.7-1~deb13u3']), {
    fixed: '3.5.9-1~deb13u1',
    vulnerable: '3.5.7-1~deb13u3',
    candidates: ['3.5.9-1~deb13u1', '3.5.7-1~deb13u3'],
  });
});

test('choosePatchVersions: one candidate is not a patch, and says what the archives offer', (t) => {
  t.throws(() => choosePatchVersions(['3.5.9-1~deb13u1']), { message: /two candidate versions.*3\.5\.9-1~deb13u1/ });
  t.throws(() => choosePatchVersions([]), { message: /two candidate versions/ });
});

const check = (pkg: string, min: string, ok: boolean) => ({ topic: 'packages', check: `${pkg} >= ${min}`, ok });

test('patchCompliance: compliant only when every patched package passed its check at this minimum', (t) => {
  const min = '3.5.9-1~deb13u1';
  const verdict = patchCompliance(
    {
      'vm-c-1': { checks: [check('libssl3t64', min, true), check('openssl', min, true)] },
      'vm-a-1': { checks: [check('libssl3t64', min, false), check('openssl', min, false)] },
      // openssl passed but libssl did not: still vulnerable.
      'vm-b-1': { checks: [check('libssl3t64', min, false), check('openssl', min, true)] },
      // Passed against an older minimum: not evidence for this one.
      'vm-a-2': { checks: [check('libssl3t64', '3.5.1-1', true), check('openssl', '3.5.1-1', true)] },
      // The audit never reached the package checks.
      'vm-b-2': {},
      // Another topic's check with the same text does not count.
      'vm-c-2': { checks: [{ ...check('libssl3t64', min, true), topic: 'drift' }, check('openssl', min, true)] },
    },
    min,
  );
  t.deepEqual(verdict, { compliant: ['vm-c-1'], nonCompliant: ['vm-a-1', 'vm-a-2', 'vm-b-1', 'vm-b-2', 'vm-c-2'] });
});
