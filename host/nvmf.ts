// The NVMe-oF target from Node (and the nvmf_* RPCs): transports, subsystems with their namespaces,
// hosts and listeners, and discovery referrals. The core owns what commands mean and who may connect
// (assembly/nvme); a transport owns its sockets (host/nvmf-transports.ts is the seam); this file keeps
// the names, checks what a user asked for, and remembers the configuration so save_config can write
// it back. A subsystem's changes run one at a time (keyed by NQN), so each check holds until its change.
import type { Engine } from './engine.js';
import { KeyedSerial } from './keyed-serial.js';
import { dumpSubsystem, type DumpedController, type DumpedQpair, type SubsystemDump } from './nvmf-dump.js';
import { NVMF_ADRFAMS, addressText, checkAscii, checkNqn, fail, hexId, normalizeAddress, sameAddress, type ListenAddress } from './nvmf-checks.js';
import { NvmfListeners } from './nvmf-listeners.js';
import { withCoreBytes } from './nvmf-strings.js';
import { NVMF_TRTYPES, nvmfTransportFactory, type ListenAddressFull, type NvmfTransportBackend } from './nvmf-transports.js';
import './nvmf-modules.js';

export type { ListenAddressFull, NvmfTransportBackend, NvmfTransportFactory } from './nvmf-transports.js';
export { registerNvmfTransport, nvmfTransportRegistered } from './nvmf-transports.js';
export { checkNqn, normalizeAddress, type ListenAddress } from './nvmf-checks.js';

/** The well-known NQN of the discovery subsystem (always present). */
export const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';
const SERIAL_MAX_BYTES = 20;
const MODEL_MAX_BYTES = 40;
const DEFAULT_SERIAL = '00000000000000000000';
const DEFAULT_MODEL = 'wstor bdev Controller';
const DEFAULT_MAX_NAMESPACES = 32;
const CNTLID_MIN = 1;
const CNTLID_MAX = 0xffef;
/** SPDK's default limit on subsystems, the discovery one included (nvmf_set_max_subsystems). */
const DEFAULT_MAX_SUBSYSTEMS = 1024;
/** The serial key of the transports' and the referrals' changes (an NQN never looks like these). */
const TRANSPORTS_KEY = 'transports';
const REFERRALS_KEY = 'referrals';

export interface NamespaceSpec { bdev: string; nsid?: number; uuid?: string; nguid?: string; eui64?: string }
export interface NamespaceInfo { nsid: number; bdev: string; uuid?: string; nguid?: string; eui64?: string }

export interface SubsystemSpec {
  serialNumber?: string; modelNumber?: string; maxNamespaces?: number; allowAnyHost?: boolean;
  minCntlid?: number; maxCntlid?: number;
}

export interface SubsystemInfo {
  nqn: string; subtype: 'Discovery' | 'NVMe'; serialNumber: string; modelNumber: string; maxNamespaces: number;
  allowAnyHost: boolean; minCntlid: number; maxCntlid: number; hosts: string[]; listeners: ListenAddressFull[];
  namespaces: NamespaceInfo[];
}

export type ControllerInfo = DumpedController;
/** A queue pair with its controller's host and the address it came through (none once that socket closed). */
export interface QpairInfo extends DumpedQpair { hostnqn: string; listen?: ListenAddressFull }
/** A discovery referral; subnqn is the NQN hosts ask for there (the discovery NQN unless given). */
export interface ReferralInfo { addr: ListenAddressFull; subnqn: string }

interface Subsystem extends SubsystemInfo { ptr: number }

function copyInfo({ ptr: _ptr, ...info }: Subsystem): SubsystemInfo {
  return { ...info, hosts: [...info.hosts], listeners: info.listeners.map((a) => ({ ...a })), namespaces: info.namespaces.map((n) => ({ ...n })) };
}

/** A reactor's poll group, named as SPDK names its threads (nvmf_get_stats, nvmf_subsystem_get_qpairs). */
export const pollGroupName = (reactor: number) => `nvmf_tgt_poll_group_${String(reactor).padStart(3, '0')}`;

export class NvmfApi {
  private readonly transportsByType = new Map<string, NvmfTransportBackend>();
  private readonly subsystemsByNqn = new Map<string, Subsystem>();
  private readonly referralList: ReferralInfo[] = [];
  private readonly listeners: NvmfListeners;
  private readonly serial = new KeyedSerial();
  /** Subsystems being created now: they count against the limit before they exist. */
  private creatingCount = 0;
  private maxSubsystemsNow = DEFAULT_MAX_SUBSYSTEMS;

  /** The discovery subsystem's record (listeners only: it has no namespaces or hosts); its pointer is asked for once. */
  private readonly discovery: Subsystem = {
    ptr: 0, nqn: DISCOVERY_NQN, subtype: 'Discovery', serialNumber: '', modelNumber: '', maxNamespaces: 0, allowAnyHost: true,
    minCntlid: CNTLID_MIN, maxCntlid: CNTLID_MAX, hosts: [], listeners: [], namespaces: [],
  };

  constructor(private readonly engine: Engine) {
    this.listeners = new NvmfListeners(engine);
  }

  // ---- transports ----

  /** nvmf_create_transport: `options` in SPDK's names (the transport module checks them). */
  async createTransport(trtype: string, options: Record<string, unknown> = {}): Promise<void> {
    const type = trtype.toUpperCase();
    const factory = nvmfTransportFactory(type);
    return this.serial.run(TRANSPORTS_KEY, async () => {
      if (this.transportsByType.has(type)) fail('EEXIST', `the ${type} transport already exists (one per type: nvmf_get_transports shows its options)`);
      this.transportsByType.set(type, await factory(this.engine, options));
    });
  }

  transports(trtype?: string): { trtype: string; options: Record<string, unknown> }[] {
    const types = trtype === undefined ? [...this.transportsByType.keys()] : [trtype.toUpperCase()];
    return types.map((t) => {
      const backend = this.transportsByType.get(t);
      if (!backend) fail('ENODEV', `no ${trtype} transport (create it with nvmf_create_transport)`);
      return { trtype: t, options: { ...backend.options } };
    });
  }

  // ---- subsystems ----

  get maxSubsystems(): number { return this.maxSubsystemsNow; }

  /** nvmf_set_max_subsystems: before any subsystem exists beyond the discovery one, as in SPDK. */
  setMaxSubsystems(n: number): void {
    if (!Number.isInteger(n) || n < 1) fail('EINVAL', `max_subsystems ${n} must be at least 1`);
    if (this.subsystemsByNqn.size + this.creatingCount > 0 && n !== this.maxSubsystemsNow) {
      fail('EPERM', 'max_subsystems can only change before the first subsystem is created (with --wait-for-rpc)');
    }
    this.maxSubsystemsNow = n;
  }

  async createSubsystem(nqn: string, spec: SubsystemSpec = {}): Promise<void> {
    checkNqn(nqn, 'subsystem NQN');
    if (nqn === DISCOVERY_NQN) fail('EEXIST', `${DISCOVERY_NQN} is the discovery subsystem; it always exists`);
    const serialNumber = spec.serialNumber ?? DEFAULT_SERIAL;
    const modelNumber = spec.modelNumber ?? DEFAULT_MODEL;
    checkAscii(serialNumber, SERIAL_MAX_BYTES, 'serial_number');
    checkAscii(modelNumber, MODEL_MAX_BYTES, 'model_number');
    // SPDK-schema clients send every number, 0 meaning the default.
    const maxNamespaces = spec.maxNamespaces || DEFAULT_MAX_NAMESPACES;
    const minCntlid = spec.minCntlid || CNTLID_MIN;
    const maxCntlid = spec.maxCntlid || CNTLID_MAX;
    if (minCntlid < CNTLID_MIN || maxCntlid > CNTLID_MAX || minCntlid > maxCntlid) {
      fail('EINVAL', `min_cntlid ${minCntlid} and max_cntlid ${maxCntlid} must satisfy ${CNTLID_MIN} <= min <= max <= ${CNTLID_MAX}`);
    }
    const allowAnyHost = spec.allowAnyHost === true;
    return this.serial.run(nqn, async () => {
      if (this.subsystemsByNqn.has(nqn)) fail('EEXIST', `subsystem ${nqn} already exists`);
      if (this.subsystemsByNqn.size + this.creatingCount + 1 >= this.maxSubsystemsNow) {
        fail('ENOSPC', `the target has its ${this.maxSubsystemsNow} subsystems (with discovery): delete one, or raise nvmf_set_max_subsystems`);
      }
      this.creatingCount++;
      try {
        const ptr = await withCoreBytes(this.engine, `creating subsystem ${nqn}`, [nqn, serialNumber, modelNumber],
          (r, [n, s, m]) => this.engine.core.nvmf_subsystem_create(r, n, s, m, maxNamespaces, allowAnyHost ? 1 : 0, minCntlid, maxCntlid));
        this.subsystemsByNqn.set(nqn, {
          ptr: ptr >>> 0, nqn, subtype: 'NVMe', serialNumber, modelNumber, maxNamespaces, allowAnyHost, minCntlid, maxCntlid,
          hosts: [], listeners: [], namespaces: [],
        });
      } finally {
        this.creatingCount--;
      }
    });
  }

  private subsystem(nqn: string): Subsystem {
    const s = this.subsystemsByNqn.get(nqn);
    if (!s) fail('ENODEV', nqn === DISCOVERY_NQN ? `${DISCOVERY_NQN} takes only listeners` : `no subsystem ${nqn} (nvmf_get_subsystems lists them)`);
    return s;
  }

  /** `nqn`'s record, the discovery subsystem's included (for what it has too: listeners, controllers). */
  private anySubsystem(nqn: string): Subsystem {
    if (nqn !== DISCOVERY_NQN) return this.subsystem(nqn);
    if (this.discovery.ptr === 0) this.discovery.ptr = this.engine.core.nvmf_discovery_subsystem() >>> 0;
    if (this.discovery.ptr === 0) fail('ENOMEM', `the engine's memory has no room for ${DISCOVERY_NQN}: free something, or start the engine with more memory`);
    return this.discovery;
  }

  /** Run `op` on subsystem `nqn` once its earlier changes have ended (it may be gone by then: ENODEV). */
  private change<T>(nqn: string, op: (s: Subsystem) => Promise<T>): Promise<T> {
    return this.serial.run(nqn, () => op(this.anySubsystem(nqn)));
  }

  /** Delete a subsystem: its hosts are disconnected and its I/O ends (completed or aborted, once); no reactor waits. */
  async deleteSubsystem(nqn: string): Promise<void> {
    return this.serial.run(nqn, async () => {
      const s = this.subsystem(nqn);
      await this.engine.request(`deleting subsystem ${nqn}`, (r) => this.engine.core.nvmf_subsystem_delete(r, s.ptr));
      this.subsystemsByNqn.delete(nqn);
      for (const addr of s.listeners) await this.listeners.forget(nqn, addr);
    });
  }

  async addNamespace(nqn: string, ns: NamespaceSpec): Promise<number> {
    const uuid = hexId(ns.uuid, 16, 'uuid');
    const nguid = hexId(ns.nguid, 16, 'nguid');
    const eui64 = hexId(ns.eui64, 8, 'eui64');
    return this.change(nqn, async (s) => {
      const nsid = ns.nsid ?? 0;
      if (!Number.isInteger(nsid) || nsid < 0 || nsid > s.maxNamespaces) fail('EINVAL', `nsid ${nsid} must be from 1 to max_namespaces (${s.maxNamespaces}), or 0 for the lowest free one`);
      if (nsid !== 0 && s.namespaces.some((n) => n.nsid === nsid)) fail('EEXIST', `subsystem ${nqn} already has namespace ${nsid}`);
      await this.engine.bdev.waitForExamine();
      const info = this.engine.bdev.info(ns.bdev);
      const got = await withCoreBytes(this.engine, `adding bdev ${ns.bdev} to ${nqn}`, [uuid, nguid, eui64],
        (r, [u, g, e]) => this.engine.core.nvmf_ns_add(r, s.ptr, info.id, nsid, u, g, e));
      s.namespaces.push({ nsid: got, bdev: info.name, uuid: ns.uuid, nguid: ns.nguid, eui64: ns.eui64 });
      s.namespaces.sort((a, b) => a.nsid - b.nsid);
      return got;
    });
  }

  async removeNamespace(nqn: string, nsid: number): Promise<void> {
    return this.change(nqn, async (s) => {
      if (!s.namespaces.some((n) => n.nsid === nsid)) fail('ENOENT', `subsystem ${nqn} has no namespace ${nsid}`);
      await this.engine.request(`removing namespace ${nsid} of ${nqn}`, (r) => this.engine.core.nvmf_ns_remove(r, s.ptr, nsid));
      s.namespaces = s.namespaces.filter((n) => n.nsid !== nsid);
    });
  }

  async addHost(nqn: string, host: string): Promise<void> {
    checkNqn(host, 'host NQN');
    return this.change(nqn, async (s) => {
      if (s === this.discovery) fail('EINVAL', `${DISCOVERY_NQN} lets any host in: it takes no host list`);
      if (s.hosts.includes(host)) fail('EEXIST', `host ${host} is already allowed on ${nqn}`);
      await withCoreBytes(this.engine, `allowing host ${host} on ${nqn}`, [host], (r, [h]) => this.engine.core.nvmf_host_add(r, s.ptr, h));
      s.hosts.push(host);
    });
  }

  async removeHost(nqn: string, host: string): Promise<void> {
    return this.change(nqn, async (s) => {
      if (!s.hosts.includes(host)) fail('ENOENT', `host ${host} is not on ${nqn}'s list`);
      await withCoreBytes(this.engine, `removing host ${host} from ${nqn}`, [host], (r, [h]) => this.engine.core.nvmf_host_remove(r, s.ptr, h));
      s.hosts = s.hosts.filter((h) => h !== host);
    });
  }

  async allowAnyHost(nqn: string, allow: boolean): Promise<void> {
    return this.change(nqn, async (s) => {
      if (s === this.discovery) fail('EINVAL', `${DISCOVERY_NQN} always lets any host in`);
      await this.engine.request(`allow_any_host on ${nqn}`, (r) => this.engine.core.nvmf_allow_any_host(r, s.ptr, allow ? 1 : 0));
      s.allowAnyHost = allow;
    });
  }

  // ---- listeners (host/nvmf-listeners.ts shares one socket per address) ----

  async addListener(nqn: string, address: ListenAddress): Promise<void> {
    const addr = normalizeAddress(address);
    return this.change(nqn, async (s) => {
      if (s.listeners.some((l) => sameAddress(l, addr))) fail('EEXIST', `${nqn} already listens on ${addressText(addr)}`);
      const transport = this.transportsByType.get(addr.trtype);
      if (!transport) fail('ENODEV', `no ${addr.trtype} transport serves ${addressText(addr)}: create it first (nvmf_create_transport -t ${addr.trtype})`);
      await this.listeners.attach(nqn, s.ptr, addr, transport);
      s.listeners.push(addr);
    });
  }

  async removeListener(nqn: string, address: ListenAddress): Promise<void> {
    const addr = normalizeAddress(address);
    return this.change(nqn, async (s) => {
      if (!s.listeners.some((l) => sameAddress(l, addr))) fail('ENOENT', `${nqn} does not listen on ${addressText(addr)}`);
      await this.listeners.detach(nqn, s.ptr, addr);
      s.listeners = s.listeners.filter((a) => !sameAddress(a, addr));
    });
  }

  // ---- discovery referrals (the core keys them by address) ----

  async addReferral(address: ListenAddress, subnqn?: string): Promise<void> {
    const addr = normalizeAddress(address);
    if (subnqn !== undefined) checkNqn(subnqn, 'subnqn');
    return this.serial.run(REFERRALS_KEY, async () => {
      const there = this.referralList.find((r) => sameAddress(r.addr, addr));
      if (there) fail('EEXIST', `a referral to ${addressText(addr)} already exists (for ${there.subnqn}): remove it first`);
      await withCoreBytes(this.engine, `adding referral ${addressText(addr)}`, [addr.traddr, addr.trsvcid, subnqn],
        (r, [a, p, n]) => this.engine.core.nvmf_referral_add(r, NVMF_TRTYPES[addr.trtype], NVMF_ADRFAMS[addr.adrfam.toUpperCase()], a, p, n));
      this.referralList.push({ addr, subnqn: subnqn ?? DISCOVERY_NQN });
    });
  }

  /** nvmf_discovery_remove_referral: the referral at `address`; `subnqn`, when given, must be the one it refers to. */
  async removeReferral(address: ListenAddress, subnqn?: string): Promise<void> {
    const addr = normalizeAddress(address);
    return this.serial.run(REFERRALS_KEY, async () => {
      const at = this.referralList.findIndex((r) => sameAddress(r.addr, addr));
      if (at < 0) fail('ENOENT', `there is no referral to ${addressText(addr)} (nvmf_discovery_get_referrals lists them)`);
      const there = this.referralList[at];
      if (subnqn !== undefined && subnqn !== there.subnqn) fail('ENOENT', `the referral to ${addressText(addr)} is for ${there.subnqn}, not ${subnqn}`);
      await withCoreBytes(this.engine, `removing referral ${addressText(addr)}`, [addr.traddr, addr.trsvcid],
        (r, [a, p]) => this.engine.core.nvmf_referral_remove(r, NVMF_TRTYPES[addr.trtype], NVMF_ADRFAMS[addr.adrfam.toUpperCase()], a, p));
      this.referralList.splice(at, 1);
    });
  }

  referrals(): ReferralInfo[] { return this.referralList.map((r) => ({ addr: { ...r.addr }, subnqn: r.subnqn })); }

  // ---- what there is ----

  subsystems(nqn?: string): SubsystemInfo[] {
    if (nqn === undefined) return [this.discovery, ...this.subsystemsByNqn.values()].map(copyInfo);
    return [copyInfo(nqn === DISCOVERY_NQN ? this.discovery : this.subsystem(nqn))];
  }

  /** A subsystem's connected controllers (the core's dump). */
  controllers(nqn: string): ControllerInfo[] { return this.dump(nqn).controllers; }

  /** A subsystem's queue pairs, each with its host and the listener it came through (the core's dump). */
  qpairs(nqn: string): QpairInfo[] {
    const { controllers, qpairs } = this.dump(nqn);
    const hostOf = new Map(controllers.map((c) => [c.cntlid, c.hostnqn]));
    return qpairs.map((q) => {
      const listen = this.listeners.addressOf(q.listenerId);
      return { ...q, hostnqn: hostOf.get(q.cntlid) ?? '', ...(listen ? { listen } : {}) };
    });
  }

  private dump(nqn: string): SubsystemDump {
    return dumpSubsystem(this.engine.core, this.engine.memory, this.anySubsystem(nqn).ptr, `listing the controllers of ${nqn}`);
  }

  /** nvmf_get_stats' poll groups: one per reactor (as SPDK has one per core), each with its transports' counters. */
  pollGroupStats(): { name: string; transports: Record<string, unknown>[] }[] {
    const groups = Array.from({ length: this.engine.reactorCount }, (_, i) => ({ name: pollGroupName(i), transports: [] as Record<string, unknown>[] }));
    for (const [trtype, t] of this.transportsByType) {
      const perGroup = t.stats();
      if (perGroup.length !== groups.length) fail('EIO', `the ${trtype} transport gave stats for ${perGroup.length} poll groups; the engine has ${groups.length} reactors`);
      perGroup.forEach((c, i) => groups[i].transports.push({ trtype, ...c }));
    }
    return groups;
  }

  /** Delete every subsystem, the discovery listeners, then every transport (the serve command's shutdown and Engine.stop). */
  async deleteAll(): Promise<void> {
    for (const nqn of [...this.subsystemsByNqn.keys()]) await this.deleteSubsystem(nqn);
    for (const addr of [...this.discovery.listeners]) await this.removeListener(DISCOVERY_NQN, addr);
    await this.serial.run(TRANSPORTS_KEY, async () => {
      for (const [type, t] of [...this.transportsByType]) { this.transportsByType.delete(type); await t.destroy(); }
    });
  }
}
