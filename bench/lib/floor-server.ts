// The floor of a benchmark run: plain node:http in cluster mode, as many
// workers as the service, answering POST / with the same JSON body and
// nothing else (no Express, helmet, logging, pm2 or database). What it
// measures on a machine is what the machine and Node give before any of the
// service's layers: the difference to the `constant` series is the cost of
// those layers, the difference to `coalescing` adds the database.
// Values are unique across workers (worker i of n answers i+1, i+1+n, ...),
// so the run's correctness check applies (no value twice).
// Usage: PORT=8080 WORKERS=2 node --import tsx bench/lib/floor-server.ts
// Prints `ready <port>` once every worker listens; SIGINT/SIGTERM stop it.

import cluster from 'node:cluster';
import http from 'node:http';

const port = Number(process.env.PORT);
const workers = Number(process.env.WORKERS ?? '1');
if (!Number.isInteger(port) || port <= 0 || !Number.isInteger(workers) || workers <= 0) {
  process.stderr.write('floor-server: PORT and WORKERS must be positive integers\n');
  process.exit(2);
}

if (cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < workers; i += 1) cluster.fork({ FLOOR_WORKER: String(i) });
  cluster.on('listening', () => {
    listening += 1;
    if (listening === workers) process.stdout.write(`ready ${port}\n`);
  });
  let stopping = false;
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      process.stderr.write(`floor-server: worker ${worker.id} exited (${signal ?? code})\n`);
      process.exit(1);
    }
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  });
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else {
  let next = Number(process.env.FLOOR_WORKER) + 1;
  const server = http.createServer((request, response) => {
    request.resume();
    request.once('end', () => {
      if (request.method !== 'POST' || request.url !== '/') {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end('{"error":"not_found"}');
        return;
      }
      const body = JSON.stringify({ timestamp: Math.floor(Date.now() / 1000), counter: next, message: 'Hello world' });
      next += workers;
      response.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'counter-consistency': 'exact',
      });
      response.end(body);
    });
  });
  server.keepAliveTimeout = 620_000;
  server.listen(port, '127.0.0.1');
  process.once('SIGTERM', () => process.exit(0));
}
