// vhost-user-blk controllers from Node (and the vhost_* RPCs): each serves one bdev to one guest on
// a unix socket in the socket directory (SPDK's -S). The host only opens the listening socket; the
// controller's thread on its reactor accepts, parses every message and descriptor, and maps guest
// memory through the seam in host/vhost-host.ts.
import type { CoreExports } from './core-abi.js';
import fs from 'node:fs';
import path from 'node:path';
import type { Engine } from './engine.js';
import { writeCoreString } from './core-abi.js';
import { parseCoreMask, parseCpuList } from './cpus.js';
import { WstorError } from './errors.js';
import { VhostNative } from './vhost-host.js';

export interface VhostControllerInfo {
  name: string; bdev: string; socket: string; readOnly: boolean; reactor: number; cpumask: string;
  connected: boolean; sessions: number; refused: number; requests: number; failedRequests: number;
  /** Notifications the guest's call fds did not take (full, as a pipe nobody reads, or broken): dropped, never waited for. */
  droppedNotifications: number;
  delayBaseUs: number; iopsThreshold: number;
  /** The queue workers: ring i is served by workers[i % workers.length]. */
  workers: { reactor: number; requests: number }[];
}

interface Controller { name: string; bdev: string; socket: string; readOnly: boolean; reactor: number; ptr: number; delayBaseUs: number; iopsThreshold: number }


export class VhostApi {
  private readonly controllers = new Map<string, Controller>();
  /** Where controller sockets go (`wstor serve -S DIR`; default: the working directory, as SPDK). */
  socketDir = process.cwd();
  private mode = 0o600;

  /**
   * Permissions of the sockets of controllers created from now on (`wstor serve --vhost-socket-mode`),
   * exactly, whatever the umask. 0600 by default: whoever may connect is trusted with a disk. SPDK's
   * RPC has no such parameter (its sockets follow the umask); this is wstor's own.
   */
  get socketMode(): number { return this.mode; }
  set socketMode(mode: number) {
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
      throw new WstorError('EINVAL', `vhost socket mode ${Number.isInteger(mode) && mode >= 0 ? `0${mode.toString(8)}` : mode} must be a permission mode from 0000 to 0777 (e.g. 0o660 for a group)`);
    }
    this.mode = mode;
  }

  constructor(private readonly engine: Engine) {}

  private get core(): CoreExports { return this.engine.core; }

  private reactorOf(cpumask: string | undefined): number {
    if (cpumask === undefined) return this.controllers.size % this.engine.reactorCount;   // spread them
    const text = cpumask.trim();
    const cpus = text.startsWith('[') ? parseCpuList(text.slice(1, -1)) : parseCoreMask(text);
    for (const cpu of cpus) {
      const r = this.engine.pins ? this.engine.pins.indexOf(cpu) : cpu;
      if (r >= 0 && r < this.engine.reactorCount) return r;
    }
    const on = this.engine.pins ? `CPUs ${this.engine.pins.join(', ')}` : `reactors 0-${this.engine.reactorCount - 1}`;
    throw new WstorError('EINVAL', `cpumask ${cpumask} selects no reactor (they run on ${on})`);
  }

  /** A controller named `name` serving `bdev` at socketDir/name. */
  async createBlk(name: string, bdev: string, opts: { readOnly?: boolean; cpumask?: string; packedRing?: boolean } = {}): Promise<void> {
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(name)) throw new WstorError('EINVAL', `controller name "${name}" must be 1-100 letters, digits and _ . - (it names the socket)`);
    if (this.controllers.has(name)) throw new WstorError('EEXIST', `a controller named ${name} already exists`);
    if (opts.packedRing) throw new WstorError('ENOTSUP', 'packed rings are not supported (split rings only): omit packed_ring');
    const native = VhostNative.load();
    await this.engine.bdev.waitForExamine();        // examine holds a new bdev's claim for a moment
    const info = this.engine.bdev.info(bdev);
    const reactor = this.reactorOf(opts.cpumask);
    const socket = path.join(this.socketDir, name);
    const fd = native.listen(socket, this.mode);    // errors say what to do (another server there, …)
    const str = writeCoreString(this.engine.core, this.engine.memory, name);
    let ptr: number;
    try {
      ptr = await this.engine.request(`creating vhost controller ${name}`,
        (r) => this.core.vhost_ctrlr_create(r, str, info.id, fd, reactor, opts.readOnly ? 1 : 0));
    } catch (err) {
      native.close(fd);
      fs.rmSync(socket, { force: true });
      throw err;
    }
    this.controllers.set(name, { name, bdev: info.name, socket, readOnly: opts.readOnly === true, reactor, ptr, delayBaseUs: 0, iopsThreshold: 0 });
  }

  /**
   * Delete a controller. With a guest connected this is refused (EBUSY) unless `force`, which
   * disconnects the guest first; either way the reactor never waits (its I/O drains over later polls).
   */
  async delete(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const c = this.controller(name);
    try {
      await this.engine.request(`deleting vhost controller ${name}`, (r) => this.core.vhost_ctrlr_delete(r, c.ptr, opts.force ? 1 : 0));
    } catch (err) {
      if ((err as WstorError).code === 'EBUSY') {
        throw new WstorError('EBUSY', `controller ${name} has a connected guest: shut the guest down, or delete with force to disconnect it`, -16);
      }
      throw err;
    }
    this.controllers.delete(name);
    fs.rmSync(c.socket, { force: true });
  }

  private controller(name: string): Controller {
    const c = this.controllers.get(name);
    if (!c) throw new WstorError('ENODEV', `no vhost controller named ${name}`);
    return c;
  }

  /**
   * Interrupt coalescing (SPDK's vhost_controller_set_coalescing): while a ring completes at least
   * `iopsThreshold` requests a second, the guest is interrupted at most once per `delayBaseUs`
   * (0: after every poll that completed something).
   */
  setCoalescing(name: string, delayBaseUs: number, iopsThreshold: number): void {
    const c = this.controller(name);
    for (const [k, v] of [['delay_base_us', delayBaseUs], ['iops_threshold', iopsThreshold]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new WstorError('EINVAL', `${k} ${v} must be a whole number from 0 to 2^32-1`);
    }
    this.core.vhost_ctrlr_set_coalescing(c.ptr, delayBaseUs, iopsThreshold);
    c.delayBaseUs = delayBaseUs;
    c.iopsThreshold = iopsThreshold;
  }

  list(name?: string): VhostControllerInfo[] {
    const all = name === undefined ? [...this.controllers.values()] : [this.controller(name)];
    return all.map((c) => {
      const info = (which: number) => this.core.vhost_ctrlr_info(c.ptr, which);
      return {
        name: c.name, bdev: c.bdev, socket: c.socket, readOnly: c.readOnly, reactor: c.reactor,
        cpumask: `0x${(2 ** (this.engine.pins ? this.engine.pins[c.reactor] : c.reactor)).toString(16)}`,
        connected: info(0) === 1, sessions: info(1), refused: info(2), requests: info(4), failedRequests: info(5), droppedNotifications: info(7),
        delayBaseUs: c.delayBaseUs, iopsThreshold: c.iopsThreshold,
        workers: Array.from({ length: info(6) }, (_, i) => ({ reactor: info(200 + i), requests: info(100 + i) })),
      };
    });
  }

  /** Delete every controller, disconnecting guests (the serve command's shutdown). */
  async deleteAll(): Promise<void> {
    for (const name of [...this.controllers.keys()]) await this.delete(name, { force: true });
  }
}
