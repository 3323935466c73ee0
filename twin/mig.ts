// A regional managed instance group with GCP's documented semantics and
// nothing friendlier (https://cloud.google.com/compute/docs/instance-groups):
//   - target size spread EVEN across the zones;
//   - a canary (GCP's second version with a fixed target size): that many
//     instances on the canary version, the rest on the template, placed in
//     zone order, replaced with the same surge rules;
//   - proactive rolling update, SUBSTITUTE: at most maxSurge instances above
//     target (spread across zones) and at most maxUnavailable below it, both
//     from rolloutPolicy() in terraform/serving-policy.ts; an old instance is
//     removed only when that keeps the available count within limits;
//   - "available" = RUNNING, the autohealing health check passed once, and
//     min_ready_sec elapsed since (MIN_READY_SEC in serving-policy.ts);
//   - autohealing on AUTOHEAL_CHECK (its path, interval, timeout and
//     unhealthy threshold) after the initial delay, and recreation of an
//     instance whose VM is no longer running (a crash);
//   - removal = out of the backend service (connection draining), graceful
//     stop (the shutdown script), delete.
// The controller is driven by `tick()` from a loop; the cloud it acts on is
// passed in (MigDeps), so the same code runs against the twin and against a
// fake in the unit tests.

import * as servingPolicy from '../terraform/serving-policy.js';
import { AUTOHEAL_CHECK, rolloutPolicy, type HttpCheck } from '../terraform/serving-policy.js';
import { instanceAddress, instanceName, SLOTS_PER_ZONE, type Zone } from './topology.js';

/** min_ready_sec from serving-policy.ts when it defines one (MIN_READY_SEC or rolloutPolicy().minReadySec), else 0. */
export function minReadySecFromPolicy(zones: number): number {
  const fromPolicy = (rolloutPolicy(zones) as unknown as { minReadySec?: number }).minReadySec;
  const exported = (servingPolicy as unknown as { MIN_READY_SEC?: number }).MIN_READY_SEC;
  return fromPolicy ?? exported ?? 0;
}

export interface MigDeps {
  /** Creates and boots a VM; resolves when its process runs (not when it is healthy). */
  create(name: string, zone: Zone, ip: string, version: string): Promise<void>;
  /** Adds the VM to the backend service (the load balancer's own check decides traffic). */
  lbAdd(name: string, ip: string): Promise<void>;
  /** Connection draining, then out of the backend service. */
  lbDrain(name: string): Promise<void>;
  /** Graceful stop (shutdown script), then delete the VM and its disk. */
  stopAndDelete(name: string): Promise<void>;
  /** One autohealing probe: true when the check answered 200 within its timeout. */
  probe(ip: string, check: HttpCheck): Promise<boolean>;
  /** Whether the VM's process still runs (GCE's RUNNING status). */
  running(name: string): Promise<boolean>;
  now(): number;
  log(event: MigEvent): void;
}

export interface MigEvent {
  readonly at: number;
  readonly type: string;
  readonly instance?: string;
  readonly detail?: string;
}

export type HealthState = 'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY';

export interface ManagedInstance {
  readonly name: string;
  readonly zone: Zone;
  readonly ip: string;
  readonly version: string;
  readonly createdAt: number;
  /** CREATING -> RUNNING -> DELETING (or REPAIRING) */
  status: 'CREATING' | 'RUNNING' | 'DELETING' | 'REPAIRING';
  health: HealthState;
  firstHealthyAt?: number;
  okInRow: number;
  failInRow: number;
  lastProbeAt?: number;
  probing: boolean;
}

export interface MigOptions {
  readonly zones: readonly Zone[];
  readonly targetSize: number;
  readonly version: string;
  readonly initialDelaySec: number;
  readonly minReadySec?: number;
  readonly check?: HttpCheck;
}

export class Mig {
  readonly instances = new Map<string, ManagedInstance>();
  readonly maxSurge: number;
  readonly maxUnavailable: number;
  readonly minReadySec: number;
  readonly check: HttpCheck;
  template: string;
  /** A canary version with its fixed size, beside the template (undefined: none). */
  canary: { readonly version: string; readonly size: number } | undefined;
  private busy = new Set<Promise<unknown>>();

  constructor(
    readonly options: MigOptions,
    private readonly deps: MigDeps,
  ) {
    const policy = rolloutPolicy(options.zones.length);
    this.maxSurge = policy.maxSurgeFixed;
    this.maxUnavailable = policy.maxUnavailableFixed;
    this.minReadySec = options.minReadySec ?? minReadySecFromPolicy(options.zones.length);
    this.check = options.check ?? AUTOHEAL_CHECK;
    this.template = options.version;
    if (options.targetSize % options.zones.length !== 0) {
      throw new Error(`target size ${options.targetSize} does not spread evenly over ${options.zones.length} zones`);
    }
  }

  /** Adopts VMs that already exist (e.g. after `twin:up`), as RUNNING with unknown health. */
  adopt(name: string, zone: Zone, ip: string, version: string, createdAt: number): void {
    this.instances.set(name, {
      name,
      zone,
      ip,
      version,
      createdAt,
      status: 'RUNNING',
      health: 'UNKNOWN',
      okInRow: 0,
      failInRow: 0,
      probing: false,
    });
  }

  /** Starts a proactive rolling update to `version` (ending any canary). */
  setTemplate(version: string): void {
    this.template = version;
    this.canary = undefined;
    this.emit('rollout-started', undefined, version);
  }

  /** Starts a canary: `size` instances on `version`, the rest stay on the template. */
  setCanary(version: string, size: number): void {
    if (!Number.isInteger(size) || size < 1 || size >= this.options.targetSize) {
      throw new Error(`canary size must be 1 to ${this.options.targetSize - 1}, got ${size}`);
    }
    this.canary = { version, size };
    this.emit('canary-started', undefined, `${version} x ${size}`);
  }

  /** How many instances of each version zone `zone` should run (canary instances fill the zones in order). */
  desiredVersions(zone: Zone): Map<string, number> {
    const target = this.perZoneTarget();
    const desired = new Map<string, number>();
    let canaryHere = 0;
    if (this.canary !== undefined && this.canary.version !== this.template) {
      const before = this.options.zones.indexOf(zone) * target;
      canaryHere = Math.max(0, Math.min(target, this.canary.size - before));
      if (canaryHere > 0) desired.set(this.canary.version, canaryHere);
    }
    if (target - canaryHere > 0) desired.set(this.template, target - canaryHere);
    return desired;
  }

  /** A zone's live instances split into those its desired versions keep (oldest first) and the surplus. */
  private split(zone: Zone): { live: ManagedInstance[]; kept: ManagedInstance[]; surplus: ManagedInstance[] } {
    const desired = this.desiredVersions(zone);
    const live = [...this.instances.values()]
      .filter((i) => i.zone === zone && i.status !== 'DELETING')
      .sort((x, y) => x.createdAt - y.createdAt);
    const counts = new Map<string, number>();
    const kept: ManagedInstance[] = [];
    const surplus: ManagedInstance[] = [];
    for (const i of live) {
      const have = counts.get(i.version) ?? 0;
      if (have < (desired.get(i.version) ?? 0)) {
        counts.set(i.version, have + 1);
        kept.push(i);
      } else surplus.push(i);
    }
    return { live, kept, surplus };
  }

  perZoneTarget(): number {
    return this.options.targetSize / this.options.zones.length;
  }

  isAvailable(i: ManagedInstance): boolean {
    return (
      i.status === 'RUNNING' &&
      i.firstHealthyAt !== undefined &&
      i.health !== 'UNHEALTHY' &&
      this.deps.now() - i.firstHealthyAt >= this.minReadySec * 1000
    );
  }

  /** True when every instance runs its desired version (template or canary), is available, and the size is the target. */
  isStable(): boolean {
    const all = [...this.instances.values()];
    const settled = this.options.zones.every((zone) => {
      const { kept, surplus } = this.split(zone);
      return surplus.length === 0 && kept.length === this.perZoneTarget();
    });
    return (
      settled && all.length === this.options.targetSize && all.every((i) => this.isAvailable(i)) && this.busy.size === 0
    );
  }

  /** One reconciliation round: probes due, repairs, creations and rolling-update steps. */
  async tick(): Promise<void> {
    const now = this.deps.now();
    for (const i of this.instances.values()) {
      if (i.status === 'RUNNING' && !i.probing && (i.lastProbeAt ?? 0) + this.check.checkIntervalSec * 1000 <= now) {
        this.track(this.probe(i));
      }
    }
    for (const i of [...this.instances.values()]) {
      if (i.status !== 'RUNNING') continue;
      if (!(await this.deps.running(i.name))) {
        this.repair(i, 'not running');
        continue;
      }
      const pastDelay = now - i.createdAt >= this.options.initialDelaySec * 1000;
      if (i.health === 'UNHEALTHY' && pastDelay) this.repair(i, 'autohealing check failed');
    }
    for (const zone of this.options.zones) this.reconcileZone(zone);
  }

  /** Waits until `done()` (checked after each tick), ticking every `everyMs`; bounded by timeoutMs. */
  async runUntil(done: () => boolean, timeoutMs: number, everyMs = 500): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`MIG: not done after ${timeoutMs / 1000} s (${this.describe()})`);
      await this.tick();
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  /** Lets in-flight creations and deletions finish. */
  async settle(): Promise<void> {
    while (this.busy.size > 0) await Promise.allSettled([...this.busy]);
  }

  describe(): string {
    return [...this.instances.values()]
      .map((i) => `${i.name}:${i.version}:${i.status}:${i.health}${this.isAvailable(i) ? ':available' : ''}`)
      .join(' ');
  }

  private reconcileZone(zone: Zone): void {
    const target = this.perZoneTarget();
    // A regional MIG spreads maxSurge / maxUnavailable over its zones.
    const zoneSurge = Math.floor(this.maxSurge / this.options.zones.length);
    const zoneUnavailable = Math.floor(this.maxUnavailable / this.options.zones.length);
    const { live, kept, surplus: old } = this.split(zone);
    // New instances: up to each desired version's count, never above target + surge in all.
    const ceiling = target + (old.length > 0 ? zoneSurge : 0);
    let room = ceiling - live.length;
    for (const [version, want] of this.desiredVersions(zone)) {
      const missing = want - kept.filter((i) => i.version === version).length;
      const toCreate = Math.max(0, Math.min(room, missing));
      for (let n = 0; n < toCreate; n++) this.createIn(zone, undefined, version);
      room -= toCreate;
    }
    // Old instances leave only while the available count stays >= target - maxUnavailable,
    // and only as many as the current ones can replace.
    let available = live.filter((i) => this.isAvailable(i)).length;
    let excess = live.length - target;
    for (const victim of old.filter((i) => i.status === 'RUNNING')) {
      const wasAvailable = this.isAvailable(victim);
      if (wasAvailable && available - 1 < target - zoneUnavailable) continue;
      if (excess <= 0 && zoneUnavailable === 0) continue;
      if (wasAvailable) available -= 1;
      excess -= 1;
      this.remove(victim, 'rolling update');
    }
  }

  private nextSlot(zone: Zone): number {
    const used = new Set([...this.instances.values()].filter((i) => i.zone === zone).map((i) => i.name));
    for (let slot = 1; slot <= SLOTS_PER_ZONE; slot++) if (!used.has(instanceName(zone, slot))) return slot;
    throw new Error(`zone ${zone}: no free instance slot`);
  }

  private createIn(zone: Zone, name?: string, version = this.template): void {
    const slot = name === undefined ? this.nextSlot(zone) : Number(name.split('-')[2]);
    const vm = name ?? instanceName(zone, slot);
    const ip = instanceAddress(zone, slot);
    const instance: ManagedInstance = {
      name: vm,
      zone,
      ip,
      version,
      createdAt: this.deps.now(),
      status: 'CREATING',
      health: 'UNKNOWN',
      okInRow: 0,
      failInRow: 0,
      probing: false,
    };
    this.instances.set(vm, instance);
    this.emit('create', vm, version);
    this.track(
      (async () => {
        try {
          await this.deps.create(vm, zone, ip, instance.version);
          await this.deps.lbAdd(vm, ip);
          instance.status = 'RUNNING';
          this.emit('running', vm);
        } catch (err) {
          this.emit('create-failed', vm, String((err as Error).message ?? err));
          await this.deps.stopAndDelete(vm).catch(() => undefined);
          this.instances.delete(vm);
        }
      })(),
    );
  }

  private remove(i: ManagedInstance, why: string): void {
    i.status = 'DELETING';
    this.emit('delete', i.name, why);
    this.track(
      (async () => {
        try {
          await this.deps.lbDrain(i.name);
          this.emit('drained', i.name);
          await this.deps.stopAndDelete(i.name);
          this.emit('deleted', i.name);
        } finally {
          this.instances.delete(i.name);
        }
      })(),
    );
  }

  /** Autohealing: recreate the VM under the same name (and address), with the current template. */
  private repair(i: ManagedInstance, why: string): void {
    i.status = 'REPAIRING';
    this.emit('repair', i.name, why);
    this.track(
      (async () => {
        try {
          await this.deps.lbDrain(i.name);
          await this.deps.stopAndDelete(i.name);
        } finally {
          this.instances.delete(i.name);
        }
        this.createIn(i.zone, i.name);
      })(),
    );
  }

  private async probe(i: ManagedInstance): Promise<void> {
    i.probing = true;
    i.lastProbeAt = this.deps.now();
    try {
      const ok = await this.deps.probe(i.ip, this.check);
      if (i.status !== 'RUNNING') return;
      if (ok) {
        i.okInRow += 1;
        i.failInRow = 0;
        if (i.firstHealthyAt === undefined) {
          i.firstHealthyAt = this.deps.now();
          this.emit('first-healthy', i.name);
        }
        if (i.okInRow >= this.check.healthyThreshold || i.health === 'UNKNOWN') i.health = 'HEALTHY';
      } else {
        i.failInRow += 1;
        i.okInRow = 0;
        if (i.failInRow >= this.check.unhealthyThreshold && i.health !== 'UNHEALTHY') {
          i.health = 'UNHEALTHY';
          this.emit('unhealthy', i.name);
        }
      }
    } finally {
      i.probing = false;
    }
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) => this.emit('error', undefined, String((err as Error)?.message ?? err)));
    this.busy.add(tracked);
    void tracked.finally(() => this.busy.delete(tracked));
  }

  private emit(type: string, instance?: string, detail?: string): void {
    this.deps.log({ at: this.deps.now(), type, instance, detail });
  }
}
