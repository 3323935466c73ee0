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
      max_memory_restart: '768M',
      merge_logs: true,
      source_map_support: true,
      node_args: ['--enable-source-maps'],
    },
  ],
};
