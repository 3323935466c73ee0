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
      // Heap limits set on purpose, not left to pm2's restart threshold. A
      // worker holds no state beyond its pool and a bounded journal, so a
      // 256 MB old space is ample; past it V8 fails the worker with an OOM
      // and pm2 restarts it (exp backoff), a crash a leak would show, not a
      // silent slowdown. The young generation's semi-space is set to 16 MB
      // (Node 20's own ceiling, written down so it is a decision): an 8 MB
      // cap kept RSS under 100 MB at 1,000 req/s but cost 23 % of the
      // saturation throughput and most of the p99 at 1,000 req/s, because
      // requests in flight then survive scavenges and are promoted to old
      // space (docs/benchmarks.md: "The young generation's size").
      // max_memory_restart stays as a backstop above what the heap limits allow.
      max_memory_restart: '512M',
      merge_logs: true,
      source_map_support: true,
      node_args: ['--enable-source-maps', '--max-old-space-size=256', '--max-semi-space-size=16'],
    },
  ],
};
