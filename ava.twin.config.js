// The twin's fleet suite: bakes the image (cached), brings the twin up (network,
// database, load balancer, one instance per zone), runs the roll and kill
// drills at a CI-sized rate and takes it down. Needs root and the Debian
// packages of .ci/run; run by `npm run test:twin` and by CI, not by `npm test`.
export default {
  files: ['test/twin/fleet/**/*.test.ts', 'test/twin/db*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  timeout: '30m',
  concurrency: 1,
};
