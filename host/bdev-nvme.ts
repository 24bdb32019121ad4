// NVMe/TCP controllers attached as bdevs (SPDK's bdev_nvme): the host side only checks SPDK's
// parameters, names things and moves bytes; the driver runs in the core (assembly/nvme/host,
// assembly/bdev/nvme). A controller `NAME` gives one bdev `NAMEnN` per active namespace N.
import type { Engine } from './engine.js';
import { WstorError } from './errors.js';
import { writeCoreString } from './core-abi.js';

/** What bdev_nvme_attach_controller takes that wstor acts on (the rest is checked by the RPC layer). */
export interface NvmeAttachOptions {
  name: string;
  trtype: 'tcp' | 'pcie';
  traddr: string;
  adrfam?: 'ipv4' | 'ipv6';
  trsvcid?: string;
  subnqn?: string;
  hostnqn?: string;
  hdgst?: boolean;
  ddgst?: boolean;
  /** Connect (TCP, IC exchange, Fabrics Connect) bound; SPDK's fabrics_connect_timeout_us. */
  fabricsConnectTimeoutUs?: number;
  /** SPDK's reconnect policy: give up after this long (-1: never; 0: never reconnect, the default). */
  ctrlrLossTimeoutSec?: number;
  /** Between connect attempts. */
  reconnectDelaySec?: number;
  /** Held I/O fails after this long (0: it waits as long as the reconnect tries). */
  fastIoFailTimeoutSec?: number;
}

/** SPDK's rules for the reconnect policy (bdev_nvme_check_io_error_resiliency_params). */
function checkPolicy(o: NvmeAttachOptions): void {
  const loss = o.ctrlrLossTimeoutSec ?? 0, delay = o.reconnectDelaySec ?? 0, fast = o.fastIoFailTimeoutSec ?? 0;
  const bad = (msg: string) => new WstorError('EINVAL', `bdev_nvme_attach_controller ${o.name}: ${msg}`);
  if (loss < -1) throw bad(`ctrlr_loss_timeout_sec ${loss}: -1 (retry forever), 0 (never reconnect) or seconds`);
  if (loss === 0 && (delay !== 0 || fast !== 0)) throw bad('reconnect_delay_sec and fast_io_fail_timeout_sec need a ctrlr_loss_timeout_sec other than 0');
  if (loss !== 0 && delay === 0) throw bad('reconnect_delay_sec must be over 0 when ctrlr_loss_timeout_sec is not 0');
  if (loss > 0 && delay > loss) throw bad(`reconnect_delay_sec ${delay} is over ctrlr_loss_timeout_sec ${loss}`);
  if (fast !== 0 && fast < delay) throw bad(`fast_io_fail_timeout_sec ${fast} is under reconnect_delay_sec ${delay}`);
  if (loss > 0 && fast > loss) throw bad(`fast_io_fail_timeout_sec ${fast} is over ctrlr_loss_timeout_sec ${loss}`);
}

export interface NvmeControllerInfo {
  name: string;
  cntlid: number;
  state: 'attaching' | 'ready' | 'failed' | 'detaching' | 'resetting';
  trid: { trtype: 'TCP'; adrfam: 'IPv4' | 'IPv6'; traddr: string; trsvcid: string; subnqn: string };
  host: { nqn: string; addr: string; svcid: string };
  bdevs: string[];
  options: NvmeAttachOptions;
}

const DEFAULT_SUBNQN = 'nqn.2014-08.org.nvmexpress.discovery';
/** SPDK's default host NQN is a UUID one; wstor's is fixed per process unless given. */
const DEFAULT_HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-0077737430ff';
const DEFAULT_CONNECT_TIMEOUT_US = 10_000_000;
const STATES = ['attaching', 'ready', 'failed', 'detaching', 'resetting'] as const;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** The errnos an attach ends with that the core's errno table does not name (socket errors). */
const ERRNOS: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 22: 'EINVAL', 71: 'EPROTO', 104: 'ECONNRESET', 110: 'ETIMEDOUT', 111: 'ECONNREFUSED', 113: 'EHOSTUNREACH' };

interface Attached { ctrlr: number; info: Omit<NvmeControllerInfo, 'cntlid' | 'state'> }

/** A host id derived from the host NQN (the same NQN gives the same id, as nvme-cli's hostid file would). */
function hostIdOf(hostnqn: string): Buffer {
  const id = Buffer.alloc(16);
  for (let i = 0; i < hostnqn.length; i++) id[i % 16] = (id[i % 16] * 31 + hostnqn.charCodeAt(i) + i) & 0xff;
  return id;
}

export class NvmeControllers {
  private readonly attached = new Map<string, Attached>();
  private readonly busy = new Set<string>();

  constructor(private readonly engine: Engine) {}

  /** Attach: resolves with the bdev names (NAMEnN) once the controller is up and each bdev exists. */
  async attach(o: NvmeAttachOptions): Promise<string[]> {
    if (o.trtype === 'pcie') throw new WstorError('ENOTSUP', 'bdev_nvme_attach_controller: trtype pcie is not yet supported (NVMe/TCP only)');
    if (o.trtype !== 'tcp') throw new WstorError('EINVAL', `bdev_nvme_attach_controller: trtype must be tcp (got ${String(o.trtype)})`);
    if (!/^[A-Za-z0-9_.-]+$/.test(o.name)) throw new WstorError('EINVAL', `controller name ${JSON.stringify(o.name)}: letters, digits, _ . - only`);
    if (this.attached.has(o.name) || this.busy.has(o.name)) throw new WstorError('EEXIST', `an NVMe controller named ${o.name} is attached already`);
    const adrfam = o.adrfam ?? (o.traddr.includes(':') ? 'ipv6' : 'ipv4');
    const v4 = IPV4.test(o.traddr);
    if (adrfam === 'ipv4' && !v4) throw new WstorError('EINVAL', `traddr ${o.traddr} is not an IPv4 address (give an IP literal; names are not looked up)`);
    if (adrfam === 'ipv6' && (v4 || !o.traddr.includes(':'))) throw new WstorError('EINVAL', `traddr ${o.traddr} is not an IPv6 address`);
    const svc = o.trsvcid ?? '4420';
    const port = Number(svc);
    if (!/^\d+$/.test(svc) || port < 1 || port > 65535) throw new WstorError('EINVAL', `trsvcid ${svc} is not a port number (1-65535)`);
    const subnqn = o.subnqn ?? DEFAULT_SUBNQN;
    const hostnqn = o.hostnqn ?? DEFAULT_HOSTNQN;
    for (const [what, nqn] of [['subnqn', subnqn], ['hostnqn', hostnqn]] as const) {
      if (nqn.length > 223 || !nqn.startsWith('nqn.')) throw new WstorError('EINVAL', `${what} ${nqn} is not an NQN (nqn.yyyy-mm.<domain>..., at most 223 bytes)`);
    }
    checkPolicy(o);
    const timeoutUs = o.fabricsConnectTimeoutUs && o.fabricsConnectTimeoutUs > 0 ? o.fabricsConnectTimeoutUs : DEFAULT_CONNECT_TIMEOUT_US;
    this.busy.add(o.name);
    try {
      const core = this.engine.core;
      const strs = [o.traddr, subnqn, hostnqn].map((s) => this.cString(s));
      const hostId = this.bytes(hostIdOf(hostnqn));
      let ctrlr: number;
      try {
        ctrlr = await this.engine.request(`attaching NVMe controller ${o.name} at ${o.traddr}:${svc}`, (r) =>
          core.bdev_nvme_attach(r, strs[0], port | ((o.hdgst ? 1 : 0) | (o.ddgst ? 2 : 0)) << 16, strs[1], strs[2], hostId, timeoutUs,
            o.ctrlrLossTimeoutSec ?? 0, o.reconnectDelaySec ?? 0, o.fastIoFailTimeoutSec ?? 0));
      } catch (e) {
        throw this.attachError(e as WstorError, o, svc, subnqn);
      } finally {
        for (const p of [...strs, hostId]) core.wstor_free(p);
      }
      const bdevs: string[] = [];
      const n = core.bdev_nvme_ns_count(ctrlr);
      for (let i = 0; i < n; i++) {
        const bdevName = `${o.name}n${core.bdev_nvme_ns_info(ctrlr, i, 0)}`;
        const str = writeCoreString(core, this.engine.memory, bdevName);
        const id = await this.engine.request(`creating bdev ${bdevName}`, (r) => core.bdev_nvme_ns_bdev(r, ctrlr, i, str));
        this.engine.bdev.adopt(id, bdevName, 'nvme');
        bdevs.push(bdevName);
      }
      this.attached.set(o.name, {
        ctrlr,
        info: {
          name: o.name, bdevs, options: { ...o },
          trid: { trtype: 'TCP', adrfam: adrfam === 'ipv6' ? 'IPv6' : 'IPv4', traddr: o.traddr, trsvcid: svc, subnqn },
          host: { nqn: hostnqn, addr: '', svcid: '' },
        },
      });
      return bdevs;
    } finally {
      this.busy.delete(o.name);
    }
  }

  /** The refusal named for the one who attached: which parameter to check. */
  private attachError(e: WstorError, o: NvmeAttachOptions, svc: string, subnqn: string): WstorError {
    const at = `${o.traddr}:${svc}`;
    switch (e.errno === undefined ? e.code : ERRNOS[-e.errno] ?? e.code) {
      case 'ECONNREFUSED': return new WstorError('ECONNREFUSED', `bdev_nvme_attach_controller ${o.name}: nothing listens at ${at} (check traddr and trsvcid)`, e.errno);
      case 'ENOENT': return new WstorError('ENOENT', `bdev_nvme_attach_controller ${o.name}: the controller at ${at} has no subsystem ${subnqn} (check subnqn)`, e.errno);
      case 'EPERM': return new WstorError('EPERM', `bdev_nvme_attach_controller ${o.name}: subsystem ${subnqn} at ${at} does not allow host ${o.hostnqn ?? DEFAULT_HOSTNQN} (nvmf_subsystem_add_host on the target, or another hostnqn)`, e.errno);
      case 'ETIMEDOUT': return new WstorError('ETIMEDOUT', `bdev_nvme_attach_controller ${o.name}: ${at} did not answer within fabrics_connect_timeout_us`, e.errno);
      default: return new WstorError(ERRNOS[-(e.errno ?? 0)] ?? e.code, `bdev_nvme_attach_controller ${o.name} at ${at}: ${e.message}`, e.errno);
    }
  }

  /** Detach: its bdevs go (users see a hot remove), its qpairs close; resolves once it is freed. */
  async detach(name: string): Promise<void> {
    const a = this.attached.get(name);
    if (!a) throw new WstorError('ENODEV', `no NVMe controller named ${name} (bdev_nvme_get_controllers lists them)`);
    if (this.busy.has(name)) throw new WstorError('EBUSY', `NVMe controller ${name} is being detached already`);
    this.busy.add(name);
    try {
      for (const b of a.info.bdevs) if (this.engine.bdev.exists(b)) this.engine.bdev.disown(b);
      await this.engine.request(`detaching NVMe controller ${name}`, (r) => this.engine.core.bdev_nvme_detach(r, a.ctrlr));
      this.attached.delete(name);
    } finally {
      this.busy.delete(name);
    }
  }

  /** Reset: every queue dropped and connected again, I/O held meanwhile; resolves when it is back. */
  async reset(name: string): Promise<void> {
    const a = this.attached.get(name);
    if (!a) throw new WstorError('ENODEV', `no NVMe controller named ${name} (bdev_nvme_get_controllers lists them)`);
    await this.engine.request(`resetting NVMe controller ${name}`, (r) => this.engine.core.bdev_nvme_reset(r, a.ctrlr));
  }

  /** The id the core's admin requests name the controller by (tests and tools that submit from other threads). */
  adminId(name: string): number {
    const a = this.attached.get(name);
    if (!a) throw new WstorError('ENODEV', `no NVMe controller named ${name}`);
    return this.engine.core.bdev_nvme_ctrlr_info(a.ctrlr, 3);
  }

  /** Resets done (bdev_nvme_reset_controller and reconnects after a loss). */
  resets(name: string): number {
    const a = this.attached.get(name);
    if (!a) throw new WstorError('ENODEV', `no NVMe controller named ${name}`);
    return this.engine.core.bdev_nvme_ctrlr_info(a.ctrlr, 2);
  }

  list(name?: string): NvmeControllerInfo[] {
    if (name !== undefined && !this.attached.has(name)) throw new WstorError('ENODEV', `no NVMe controller named ${name}`);
    return [...this.attached.values()].filter((a) => name === undefined || a.info.name === name).map((a) => ({
      ...a.info,
      cntlid: this.engine.core.bdev_nvme_ctrlr_info(a.ctrlr, 0),
      state: STATES[this.engine.core.bdev_nvme_ctrlr_info(a.ctrlr, 1)] ?? 'failed',
    }));
  }

  /** Detach everything (the engine stopping). */
  async detachAll(): Promise<void> {
    for (const name of [...this.attached.keys()]) await this.detach(name).catch(() => undefined);
  }

  private cString(s: string): number { return this.bytes(Buffer.from(`${s}\0`, 'latin1')); }
  private bytes(b: Buffer): number {
    const p = this.engine.core.wstor_alloc(b.length) >>> 0;
    if (p === 0) throw new WstorError('ENOMEM', 'no engine memory for the attach parameters');
    new Uint8Array(this.engine.memory.buffer, p, b.length).set(b);
    return p;
  }
}

const registry = new WeakMap<Engine, NvmeControllers>();
/** The engine's NVMe controllers (made on first use). */
export function nvmeControllersOf(engine: Engine): NvmeControllers {
  let c = registry.get(engine);
  if (!c) { c = new NvmeControllers(engine); registry.set(engine, c); }
  return c;
}
