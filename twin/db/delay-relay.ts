// A delaying TCP relay: the cross-zone round trip between the fleet and the
// database, in user space because this kernel has no netem. It listens on the
// stable "Cloud SQL private IP" and forwards to HAProxy on loopback, holding
// every chunk for half the round trip in each direction, in order. The
// default round trip is in settings.ts (DEFAULT_RTT_MS, with Google's
// published figure). Closing, resets and backpressure pass through: a slow
// reader pauses the writer's socket.
// Usage (inside ctwin-sql): node --import tsx twin/db/delay-relay.ts
//   --listen 10.89.0.60:5432 --target 127.0.0.1:6432 --rtt-ms 1 [--tag DIR]

import net from 'node:net';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    listen: { type: 'string' },
    target: { type: 'string' },
    'rtt-ms': { type: 'string', default: '1' },
    // Marks the process as the twin's (the cleanup sweep finds it by this).
    tag: { type: 'string' },
  },
});

function hostPort(value: string | undefined, flag: string): { host: string; port: number } {
  const match = /^([\d.]+):(\d+)$/.exec(value ?? '');
  if (!match) throw new Error(`${flag} must be IPv4:port (got "${value}")`);
  return { host: match[1] ?? '', port: Number(match[2]) };
}

const listen = hostPort(args.listen, '--listen');
const target = hostPort(args.target, '--target');
const oneWayMs = Number(args['rtt-ms']) / 2;
if (!(oneWayMs >= 0 && oneWayMs <= 1000)) throw new Error('--rtt-ms must be from 0 to 2000');

/** Bytes held in one direction before the sending socket is paused. */
const HIGH_WATER = 1 << 20;

/** Forwards `from` to `to`, each chunk `oneWayMs` after it arrived, preserving order. */
function pipeDelayed(from: net.Socket, to: net.Socket): void {
  const queue: { due: number; chunk: Buffer | null }[] = [];
  let held = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && (queue[0]?.due ?? Infinity) <= now) {
      const item = queue.shift();
      if (item === undefined) break;
      if (to.destroyed || to.writableEnded) return;
      if (item.chunk === null) {
        to.end();
        return;
      }
      held -= item.chunk.length;
      to.write(item.chunk);
    }
    if (held < HIGH_WATER && from.isPaused()) from.resume();
    schedule();
  };
  const schedule = () => {
    const head = queue[0];
    if (head === undefined || timer !== undefined) return;
    timer = setTimeout(flush, Math.max(0, head.due - performance.now()));
  };
  const push = (chunk: Buffer | null) => {
    if (oneWayMs === 0 && queue.length === 0) {
      if (to.destroyed || to.writableEnded) return;
      if (chunk === null) to.end();
      else to.write(chunk);
      return;
    }
    queue.push({ due: performance.now() + oneWayMs, chunk });
    if (chunk !== null) held += chunk.length;
    if (held >= HIGH_WATER) from.pause();
    schedule();
  };
  from.on('data', (chunk: Buffer) => push(chunk));
  from.on('end', () => push(null));
  to.on('drain', () => from.resume());
  from.on('close', () => {
    if (timer !== undefined && queue.length === 0) clearTimeout(timer);
  });
}

const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
  const upstream = net.connect({ host: target.host, port: target.port, noDelay: true, allowHalfOpen: true });
  const destroyBoth = () => {
    // A reset on one side is a reset on the other: the client must see the
    // connection die, exactly as it would without the relay.
    client.resetAndDestroy();
    upstream.resetAndDestroy();
  };
  client.on('error', destroyBoth);
  upstream.on('error', destroyBoth);
  client.on('close', () => upstream.destroySoon());
  upstream.on('close', () => client.destroySoon());
  pipeDelayed(client, upstream);
  pipeDelayed(upstream, client);
});
server.on('error', (err) => {
  console.error({ err }, 'relay failed');
  process.exit(1);
});
server.listen({ host: listen.host, port: listen.port, backlog: 1024 }, () => {
  console.log(`relay ${listen.host}:${listen.port} -> ${target.host}:${target.port}, rtt ${oneWayMs * 2} ms`);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
