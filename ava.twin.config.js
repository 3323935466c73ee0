// The twin's fleet suite: bakes the image (cached), brings the twin up (network,
// database, load balancer, one instance per zone), runs the roll and kill
// drills at a small rate and takes it down. Needs root and the Debian
// packages of .ci/run; run by `npm run test:twin`, not by `npm test` and not
// in CI (a full run takes 20-29 min; docs/twin.md has the measured runs).
export default {
  files: ['test/twin/fleet/**/*.test.ts', 'test/twin/db*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  timeout: '30m',
  concurrency: 1,
};
