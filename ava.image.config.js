// The image suite: bakes the Ansible playbook into a debootstrap root
// filesystem and audits it. Needs root and Debian's debootstrap, ansible,
// lynis; run by `npm run image:test` and by CI, not by `npm test`.
export default {
  files: ['test/images/**/*.test.ts', 'test/ansible/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  // Inactivity limit: the bake is one test. Alone it takes under a minute;
  // on a machine shared by many builds it has taken 29 min.
  timeout: '55m',
  concurrency: 1,
};
