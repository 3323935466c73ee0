// The twin's suites: the fleet (bakes the image, cached; brings the twin up:
// network, database, load balancer, one instance per zone; runs the roll and
// kill drills at a small rate; takes it down) and the database tier (Patroni
// pair, failover and partition drills). Needs root and the Debian packages of
// .ci/run. `npm run test:twin` runs both, in CI too (docs/twin.md has the
// times); `npm run test:twin:db` the database files alone.
export default {
  files: ['test/twin/fleet/**/*.test.ts', 'test/twin/db*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  timeout: '30m',
  concurrency: 1,
};
