// A tiny HTTP server in its own process for the generator's tests. It answers
// POST / with a fresh counter at once, except that on request it blocks its
// event loop for a while (a stall like a long GC pause), and it has paths
// that misbehave: /500 answers 500, /bad answers 200 without a counter,
// /hang never answers. It sends { port } when listening and
// { stalledFrom, stalledTo } (epoch ms) after each stall, over IPC.

import http from 'node:http';
import type { AddressInfo } from 'node:net';

let counter = 0;
const server = http.createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    if (request.url === '/hang') return;
    if (request.url === '/500') {
      response.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal"}');
      return;
    }
    counter += 1;
    const body = request.url === '/bad' ? { message: 'no counter' } : { counter };
    response.writeHead(200, { 'content-type': 'application/json', 'counter-consistency': 'exact' });
    response.end(JSON.stringify(body));
  });
});

process.on('message', (message: { stallAt: number; stallMs: number }) => {
  setTimeout(
    () => {
      const stalledFrom = Date.now();
      while (Date.now() - stalledFrom < message.stallMs) {
        // Busy: nothing else in this process runs, as in a stop-the-world pause.
      }
      process.send?.({ stalledFrom, stalledTo: Date.now() });
    },
    Math.max(0, message.stallAt - Date.now()),
  );
});
process.on('disconnect', () => process.exit(0));
server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
