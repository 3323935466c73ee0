// The database tier on its own, for operators and debugging:
//   tsx twin/db/cli.ts up [--no-delay] [--rtt-ms N] [--commit-delay-ms N] [--no-tls] [--etcd 3]
//   tsx twin/db/cli.ts status | down | kill [postgres|node] | partition on|off | commit-latency [N]
// `npm run twin:up` starts it together with the rest of the twin.

import { parseArgs } from 'node:util';
import {
  databaseStatus,
  killPrimary,
  measureCommitLatency,
  partition,
  startDatabase,
  stopDatabase,
  databaseConnection,
} from './index.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'no-delay': { type: 'boolean', default: false },
    'rtt-ms': { type: 'string' },
    'commit-delay-ms': { type: 'string' },
    'no-tls': { type: 'boolean', default: false },
    etcd: { type: 'string', default: '1' },
  },
});
const [command, arg] = positionals;
const optionalNumber = (v: string | undefined) => (v === undefined ? undefined : Number(v));

switch (command) {
  case 'up': {
    const started = Date.now();
    await startDatabase({
      delay: !args['no-delay'],
      rttMs: optionalNumber(args['rtt-ms']),
      commitDelayMs: optionalNumber(args['commit-delay-ms']),
      tls: !args['no-tls'],
      etcdMembers: args.etcd === '3' ? 3 : 1,
    });
    console.log(
      JSON.stringify(
        { startedInMs: Date.now() - started, status: await databaseStatus(), connection: databaseConnection().env },
        null,
        2,
      ),
    );
    break;
  }
  case 'down':
    await stopDatabase();
    break;
  case 'status':
    console.log(JSON.stringify(await databaseStatus(), null, 2));
    break;
  case 'kill':
    console.log(JSON.stringify(await killPrimary(arg === 'postgres' ? 'postgres' : 'node')));
    break;
  case 'partition':
    await partition(arg === 'on');
    break;
  case 'commit-latency': {
    const status = await databaseStatus();
    if (status.primary === undefined) throw new Error('no primary');
    console.log(JSON.stringify(await measureCommitLatency(`ctwin-${status.primary}`, Number(arg ?? 200))));
    break;
  }
  default:
    console.error('usage: tsx twin/db/cli.ts up|down|status|kill|partition|commit-latency');
    process.exitCode = 2;
}
