// pm2 process file, used by `pm2-runtime` under systemd on the VMs and by
// `npm start` locally. Cluster mode: one worker per core by default
// (WEB_CONCURRENCY overrides), sharing the listening ports. Workers tell pm2
// when they are ready (after migrations), so `pm2 reload` replaces them one
// by one without dropping requests; kill_timeout leaves room for the drain
// (SHUTDOWN_TIMEOUT_MS, 20 s by default) before pm2 would SIGKILL.
'use strict';

const path = require('node:path');

const workers = Number.parseInt(process.env.WEB_CONCURRENCY ?? '', 10);

module.exports = {
  apps: [
    {
      name: 'counter-api',
      script: path.join(__dirname, '..', 'dist', 'server', 'main.js'),
      cwd: process.cwd(),
      exec_mode: 'cluster',
      instances: Number.isInteger(workers) && workers > 0 ? workers : 'max',
      wait_ready: true,
      listen_timeout: 15000,
      kill_timeout: 30000,
      autorestart: true,
      exp_backoff_restart_delay: 200,
      // Heap limits set on purpose, not left to pm2's restart threshold, and
      // measured (docs/benchmarks.md, "Memory"): Node's own values on the
      // production machine type, written down. Old space 2,048 MB (a quarter
      // of an n2d-standard-2's 8 GB, Node's default there): V8 grows the old
      // generation by a smaller factor when its limit is lower, so it
      // collects more often; 256 MB cost 12 % and 1,024 MB 15 % of the
      // saturation throughput. Semi-space 16 MB (Node 20's ceiling): an 8 MB
      // cap cost 23 %, because requests in flight then survive scavenges and
      // are promoted. The price is RSS at 1,000 req/s: 113-115 MiB per
      // worker with these, 98-99 MiB with the smaller limits; a leak still ends in an
      // OOM that pm2 restarts (exp backoff), and max_memory_restart stays a
      // backstop above what the heap limits allow.
      max_memory_restart: '2560M',
      merge_logs: true,
      source_map_support: true,
      node_args: ['--enable-source-maps', '--max-old-space-size=2048', '--max-semi-space-size=16'],
    },
  ],
};
