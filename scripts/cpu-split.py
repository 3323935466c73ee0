#!/usr/bin/env python3
"""Where a machine's CPU goes while the twin serves a fixed rate.

  scripts/cpu-split.py snap FILE          per-process CPU ticks now, with a category
  scripts/cpu-split.py diff A B RATE      CPU per category between two snaps, per
                                          request at RATE req/s, beside /proc/stat

A process is matched across snaps by pid and start time (PostgreSQL rewrites
its command line as it works). Twin VMs are recognised by their cgroup
(/ctwin/<vm>/ in the unified hierarchy, twin/instance.ts).
"""
import json
import os
import sys
import time


def snap(path):
    procs = {}
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/stat') as f:
                stat = f.read()
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode(errors='replace')[:200]
            with open(f'/proc/{pid}/cgroup') as f:
                cgroup = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(')') + 2:].split()
        vm = next((line.split('/')[2] for line in cgroup.splitlines() if line.startswith('0::/ctwin/')), '')
        procs[pid] = {
            'ticks': int(rest[11]) + int(rest[12]),  # utime + stime
            'start': rest[19],
            'comm': stat[stat.index('(') + 1:stat.rindex(')')],
            'cmd': cmd,
            'vm': vm,
        }
    with open('/proc/stat') as f:
        total = [int(x) for x in f.readline().split()[1:]]
    with open(path, 'w') as f:
        json.dump({'t': time.time(), 'hz': os.sysconf('SC_CLK_TCK'), 'stat': total, 'procs': procs}, f)


def category(p):
    comm, cmd = p['comm'], p['cmd']
    if p['vm']:
        if 'pm2' in cmd:
            return 'VM: pm2-runtime (cluster primary)'
        if cmd.startswith('node /opt'):
            return 'VM: service workers'
        return 'VM: systemd, journald, sshd, other'
    if comm == 'haproxy':
        return 'load balancer (HAProxy)'
    if comm.startswith('postgres'):
        return 'database (PostgreSQL pair)'
    if 'patroni' in cmd or comm.startswith('etcd'):
        return 'database HA (Patroni, etcd)'
    if 'open-loop' in cmd:
        return 'load generator'
    if comm.startswith('node') or comm == 'MainThread':
        return 'twin control (delay relays, MIG, drill)'
    if comm.startswith(('kworker', 'ksoftirq', 'kdamond', 'rcu_')):
        return 'kernel threads'
    return 'other'


def diff(path_a, path_b, rate):
    with open(path_a) as f:
        a = json.load(f)
    with open(path_b) as f:
        b = json.load(f)
    hz, secs = b['hz'], b['t'] - a['t']
    requests = rate * secs
    split = {}
    for pid, p in b['procs'].items():
        before = a['procs'].get(pid)
        ticks = p['ticks'] - (before['ticks'] if before and before['start'] == p['start'] else 0)
        if ticks > 0:
            split[category(p)] = split.get(category(p), 0) + ticks
    print(f'window {secs:.1f} s, {requests:.0f} requests at {rate:g} req/s')
    print('| part | CPU s | % of one core | µs per request |\n| --- | --- | --- | --- |')
    for name, ticks in sorted(split.items(), key=lambda kv: -kv[1]):
        s = ticks / hz
        print(f'| {name} | {s:.2f} | {100 * s / secs:.1f} | {1e6 * s / requests:.0f} |')
    s = sum(split.values()) / hz
    print(f'| all processes | {s:.2f} | {100 * s / secs:.1f} | {1e6 * s / requests:.0f} |')
    busy = lambda st: sum(st) - st[3] - st[4]  # all but idle and iowait
    print(f'/proc/stat: {(busy(b["stat"]) - busy(a["stat"])) / hz:.2f} s busy of {(sum(b["stat"]) - sum(a["stat"])) / hz:.2f} s (all CPUs)')


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == 'snap':
        snap(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == 'diff':
        diff(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit(__doc__)
