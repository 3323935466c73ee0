// `npm run twin:up|twin:status|twin:down`: the twin in order (network ->
// database -> load balancer -> metadata server -> instances through the MIG)
// and back down. `down` finds leftovers by name (state directory, overlay
// mounts, nspawn processes, namespaces), so it also cleans up after a failed
// or interrupted run; a second `up` starts from nothing.
// Options for up: --size N (instances, a multiple of 3; default 3),
// --version V (image version, default twin-1), --no-delay.
// `patch-image [--version V]`: makes the patch drill's vulnerable image from V
// (baked first if needed), so `up --version patch-vulnerable` boots on it.

import { parseArgs } from 'node:util';
import { fleetDown, fleetStatus, fleetUp } from './twin-lifecycle.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    size: { type: 'string', default: '3' },
    version: { type: 'string', default: 'twin-1' },
    'no-delay': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

const command = positionals[0];
const log = (line: string) => console.log(`[twin ${new Date().toISOString().slice(11, 19)}] ${line}`);

try {
  switch (command) {
    case 'up': {
      const size = Number(args.size);
      if (!Number.isInteger(size) || size < 3 || size % 3 !== 0 || size > 27) {
        throw new Error(`--size must be 3, 6, ... 27 (one or more instances per zone), got ${args.size}`);
      }
      const summary = await fleetUp({ size, version: args.version, delay: !args['no-delay'], log });
      log(`up in ${summary.seconds.toFixed(1)} s: ${summary.instances.join(', ')}`);
      break;
    }
    case 'patch-image': {
      const { ensureImage } = await import('./image.js');
      const { deriveVulnerable } = await import('./patch.js');
      await ensureImage({ version: args.version, log });
      const { image, versions } = await deriveVulnerable(args.version);
      log(
        `${image.version}: ${versions.vulnerable} (the fix is ${versions.fixed}), made in ${image.seconds.toFixed(0)} s`,
      );
      break;
    }
    case 'status': {
      const status = await fleetStatus();
      console.log(args.json ? JSON.stringify(status, null, 2) : formatStatus(status));
      break;
    }
    case 'down': {
      const left = await fleetDown(log);
      if (left.length > 0) throw new Error(`left behind: ${left.join('; ')}`);
      log('down: nothing left behind');
      break;
    }
    default:
      throw new Error('usage: tsx twin/cli.ts up|status|down|patch-image');
  }
} catch (err) {
  console.error(`twin ${command ?? ''}: ${(err as Error).message}`);
  process.exitCode = 1;
}

function formatStatus(s: Awaited<ReturnType<typeof fleetStatus>>): string {
  const lines = [
    `network: ${s.network ? 'up' : 'down'}   load balancer: ${s.lb ?? 'down'}   metadata server: ${s.metadata ? 'up' : 'down'}`,
    `database: ${s.database}`,
    `fleet: ${s.fleet ?? 'none'}`,
  ];
  for (const i of s.instances) {
    lines.push(
      `  ${i.name.padEnd(7)} ${i.ip.padEnd(11)} zone ${i.zone}  image ${i.version.padEnd(10)} ${i.state}  lb ${i.lb}`,
    );
  }
  return lines.join('\n');
}
