// The NVMe-oF target from Node (and the nvmf_* RPCs): transports, subsystems with their namespaces,
// hosts and listeners, and discovery referrals. The core owns what commands mean and who may connect
// (assembly/nvme); a transport owns its sockets (host/nvmf-tcp.ts); this file keeps the names, checks
// what a user asked for, shares one listening socket among the subsystems that listen on an address,
// and remembers the configuration so save_config can write it back.
import type { CoreExports } from './core-abi.js';
import type { Engine } from './engine.js';
import { WstorError } from './errors.js';
import { dumpSubsystem, type DumpedController, type DumpedQpair } from './nvmf-dump.js';

/** The well-known NQN of the discovery subsystem (always present). */
export const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';
const NQN_MAX_BYTES = 223;
const SERIAL_MAX_BYTES = 20;
const MODEL_MAX_BYTES = 40;
const DEFAULT_SERIAL = '00000000000000000000';
const DEFAULT_MODEL = 'wstor bdev Controller';
const DEFAULT_MAX_NAMESPACES = 32;
const CNTLID_MIN = 1;
const CNTLID_MAX = 0xffef;
/** SPDK's default limit on subsystems (nvmf_set_max_subsystems). */
const DEFAULT_MAX_SUBSYSTEMS = 1024;

// NVMe-oF numbers (the discovery log's TRTYPE and ADRFAM).
const TRTYPES: Record<string, number> = { TCP: 3 };
const ADRFAMS: Record<string, number> = { IPV4: 1, IPV6: 2 };

/** A listen address in SPDK's shape (listen_address / address objects). */
export interface ListenAddress { trtype: string; adrfam?: string; traddr: string; trsvcid?: string }
/** A listen address with every field filled in, SPDK's spelling (trtype "TCP", adrfam "IPv4"). */
export interface ListenAddressFull { trtype: string; adrfam: string; traddr: string; trsvcid: string }

/** What a transport module offers this file (host/nvmf-tcp.ts implements it for TCP). */
export interface NvmfTransportBackend {
  /** The options it was created with, every one filled in (nvmf_get_transports, save_config). */
  readonly options: Record<string, unknown>;
  /** The core's transport pointer. */
  readonly ptr: number;
  listen(listenerId: number, addr: ListenAddressFull): Promise<void>;
  unlisten(listenerId: number): Promise<void>;
  destroy(): Promise<void>;
  /** Per poll group counters, as nvmf_get_stats lists them under "transports". */
  stats(): Record<string, unknown>[];
}
export type NvmfTransportFactory = (engine: Engine, options: Record<string, unknown>) => Promise<NvmfTransportBackend>;

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
/** A queue pair with its controller's host and the address it came through (gone when that listener was removed). */
export interface QpairInfo extends DumpedQpair { hostnqn: string; listen?: ListenAddressFull }

interface Subsystem extends SubsystemInfo { ptr: number }
interface Listener { id: number; addr: ListenAddressFull; users: Set<string> }
interface Referral { addr: ListenAddressFull; subnqn?: string }

function fail(code: string, message: string): never { throw new WstorError(code, message); }

/** The NQN rules of NVMe base spec 4.5 that a host would trip over: "nqn." and at most 223 bytes of ASCII. */
export function checkNqn(nqn: string, what = 'NQN'): void {
  if (!/^[\x20-\x7e]+$/.test(nqn)) fail('EINVAL', `${what} "${nqn}" must be printable ASCII`);
  if (nqn.length > NQN_MAX_BYTES) fail('EINVAL', `${what} "${nqn.slice(0, 40)}…" is ${nqn.length} bytes: at most ${NQN_MAX_BYTES}`);
  if (!/^nqn\.\d{4}-\d{2}\.[a-zA-Z0-9.-]+(:.+)?$/.test(nqn) && !/^nqn\.2014-08\.org\.nvmexpress:uuid:[0-9a-f-]{36}$/i.test(nqn)) {
    fail('EINVAL', `${what} "${nqn}" is not an NQN: use nqn.yyyy-mm.reverse.domain:name (e.g. nqn.2016-06.io.spdk:cnode1)`);
  }
}

function checkAscii(text: string, max: number, what: string): void {
  if (!/^[\x20-\x7e]*$/.test(text)) fail('EINVAL', `${what} "${text}" must be printable ASCII`);
  if (text.length > max) fail('EINVAL', `${what} "${text}" is ${text.length} characters: at most ${max}`);
}

function hexId(text: string | undefined, bytes: number, what: string): Uint8Array | undefined {
  if (text === undefined) return undefined;
  const hex = text.replace(/-/g, '');
  if (!new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(hex)) fail('EINVAL', `${what} "${text}" must be ${bytes * 2} hexadecimal digits`);
  return Uint8Array.from({ length: bytes }, (_, i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16));
}

/** Fill in and check a listen address: trtype TCP, adrfam IPv4/IPv6 (from the address when not given), a port. */
export function normalizeAddress(a: ListenAddress): ListenAddressFull {
  const trtype = a.trtype.toUpperCase();
  if (!(trtype in TRTYPES)) fail('ENOTSUP', `trtype ${a.trtype} is not supported (TCP only)`);
  const family = (a.adrfam ?? (a.traddr.includes(':') ? 'IPv6' : 'IPv4')).toUpperCase();
  if (!(family in ADRFAMS)) fail('ENOTSUP', `adrfam ${a.adrfam} is not supported for TCP (IPv4 or IPv6)`);
  const adrfam = family === 'IPV4' ? 'IPv4' : 'IPv6';
  const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a.traddr);
  if (adrfam === 'IPv4' && (!ipv4 || ipv4.slice(1).some((o) => Number(o) > 255))) fail('EINVAL', `traddr "${a.traddr}" is not an IPv4 address (e.g. 127.0.0.1)`);
  if (adrfam === 'IPv6' && !/^[0-9a-fA-F:.]+$/.test(a.traddr)) fail('EINVAL', `traddr "${a.traddr}" is not an IPv6 address (e.g. ::1)`);
  const trsvcid = a.trsvcid ?? '4420';
  if (!/^\d{1,5}$/.test(trsvcid) || Number(trsvcid) < 1 || Number(trsvcid) > 65535) fail('EINVAL', `trsvcid "${trsvcid}" must be a TCP port from 1 to 65535`);
  return { trtype, adrfam, traddr: a.traddr, trsvcid: String(Number(trsvcid)) };
}

/** A reactor's poll group, named as SPDK names its threads (nvmf_get_stats, nvmf_subsystem_get_qpairs). */
export const pollGroupName = (reactor: number) => `nvmf_tgt_poll_group_${String(reactor).padStart(3, '0')}`;

const addressKey = (a: ListenAddressFull) => `${a.trtype}/${a.adrfam}/${a.traddr}/${a.trsvcid}`;
const sameAddress = (a: ListenAddressFull, b: ListenAddressFull) => addressKey(a) === addressKey(b);

export class NvmfApi {
  private readonly transportsByType = new Map<string, NvmfTransportBackend>();
  private readonly subsystemsByNqn = new Map<string, Subsystem>();
  private readonly listenersByKey = new Map<string, Listener>();
  private readonly referralList: Referral[] = [];
  private maxSubsystemsNow = DEFAULT_MAX_SUBSYSTEMS;
  /** Transport modules by trtype (TCP is registered by the engine; tests may add their own). */
  readonly factories = new Map<string, NvmfTransportFactory>();

  constructor(private readonly engine: Engine) {}

  private get core(): CoreExports { return this.engine.core; }

  // ---- strings and ids for the core ----

  /** An ASCII string in core memory, NUL-terminated; freed by the caller with `free`. */
  private text(value: string): number {
    const bytes = Buffer.from(`${value}\0`, 'latin1');
    const ptr = this.core.wstor_alloc(bytes.length) >>> 0;
    if (ptr === 0) fail('ENOMEM', `the engine's memory has no room for "${value.slice(0, 64)}": free something, or start the engine with more memory`);
    new Uint8Array(this.engine.memory.buffer, ptr, bytes.length).set(bytes);
    return ptr;
  }

  private bytes(value: Uint8Array | undefined): number {
    if (value === undefined) return 0;
    const ptr = this.core.wstor_alloc(value.length) >>> 0;
    if (ptr === 0) fail('ENOMEM', 'the engine\'s memory has no room for a namespace id: free something, or start the engine with more memory');
    new Uint8Array(this.engine.memory.buffer, ptr, value.length).set(value);
    return ptr;
  }

  /** Run `post` with core copies of `strings`, freeing them once the request has ended. */
  private async withText(what: string, strings: (string | Uint8Array | undefined)[], post: (r: number, ptrs: number[]) => number): Promise<number> {
    const ptrs: number[] = [];
    try {
      for (const s of strings) ptrs.push(typeof s === 'string' ? this.text(s) : this.bytes(s));
      return await this.engine.request(what, (r) => post(r, ptrs));
    } finally {
      for (const p of ptrs) if (p !== 0) this.core.wstor_free(p);
    }
  }

  // ---- transports ----

  /** nvmf_create_transport: `options` in SPDK's names (the transport checks them). */
  async createTransport(trtype: string, options: Record<string, unknown> = {}): Promise<void> {
    const type = trtype.toUpperCase();
    const factory = this.factories.get(type);
    if (!factory) fail('ENOTSUP', `transport ${trtype} is not supported (there is: ${[...this.factories.keys()].join(', ') || 'none'})`);
    if (this.transportsByType.has(type)) fail('EEXIST', `the ${type} transport already exists (one per type: nvmf_get_transports shows its options)`);
    this.transportsByType.set(type, await factory(this.engine, options));
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
    if (this.subsystemsByNqn.size > 0 && n !== this.maxSubsystemsNow) fail('EPERM', 'max_subsystems can only change before the first subsystem is created (with --wait-for-rpc)');
    this.maxSubsystemsNow = n;
  }

  async createSubsystem(nqn: string, spec: SubsystemSpec = {}): Promise<void> {
    checkNqn(nqn, 'subsystem NQN');
    if (nqn === DISCOVERY_NQN) fail('EEXIST', `${DISCOVERY_NQN} is the discovery subsystem; it always exists`);
    if (this.subsystemsByNqn.has(nqn)) fail('EEXIST', `subsystem ${nqn} already exists`);
    if (this.subsystemsByNqn.size + 1 >= this.maxSubsystemsNow) fail('ENOSPC', `the target has its ${this.maxSubsystemsNow} subsystems (with discovery): delete one, or raise nvmf_set_max_subsystems`);
    const serialNumber = spec.serialNumber ?? DEFAULT_SERIAL;
    const modelNumber = spec.modelNumber ?? DEFAULT_MODEL;
    checkAscii(serialNumber, SERIAL_MAX_BYTES, 'serial_number');
    checkAscii(modelNumber, MODEL_MAX_BYTES, 'model_number');
    const maxNamespaces = spec.maxNamespaces || DEFAULT_MAX_NAMESPACES;
    const minCntlid = spec.minCntlid || CNTLID_MIN;
    const maxCntlid = spec.maxCntlid || CNTLID_MAX;
    if (minCntlid < CNTLID_MIN || maxCntlid > CNTLID_MAX || minCntlid > maxCntlid) {
      fail('EINVAL', `min_cntlid ${minCntlid} and max_cntlid ${maxCntlid} must satisfy ${CNTLID_MIN} <= min <= max <= ${CNTLID_MAX}`);
    }
    const allowAnyHost = spec.allowAnyHost === true;
    const ptr = await this.withText(`creating subsystem ${nqn}`, [nqn, serialNumber, modelNumber],
      (r, [n, s, m]) => this.core.nvmf_subsystem_create(r, n, s, m, maxNamespaces, allowAnyHost ? 1 : 0, minCntlid, maxCntlid));
    this.subsystemsByNqn.set(nqn, {
      ptr: ptr >>> 0, nqn, subtype: 'NVMe', serialNumber, modelNumber, maxNamespaces, allowAnyHost, minCntlid, maxCntlid,
      hosts: [], listeners: [], namespaces: [],
    });
  }

  private subsystem(nqn: string): Subsystem {
    const s = this.subsystemsByNqn.get(nqn);
    if (!s) fail('ENODEV', nqn === DISCOVERY_NQN ? `${DISCOVERY_NQN} takes only listeners` : `no subsystem ${nqn} (nvmf_get_subsystems lists them)`);
    return s;
  }

  /** The discovery subsystem's record (its listeners only: it has no namespaces or hosts). */
  private readonly discovery: Subsystem = {
    ptr: 0, nqn: DISCOVERY_NQN, subtype: 'Discovery', serialNumber: '', modelNumber: '', maxNamespaces: 0, allowAnyHost: true,
    minCntlid: CNTLID_MIN, maxCntlid: CNTLID_MAX, hosts: [], listeners: [], namespaces: [],
  };

  private discoverySubsystem(): Subsystem {
    if (this.discovery.ptr === 0) this.discovery.ptr = this.core.nvmf_discovery_subsystem() >>> 0;
    if (this.discovery.ptr === 0) fail('ENOMEM', `the engine's memory has no room for ${DISCOVERY_NQN}: free something, or start the engine with more memory`);
    return this.discovery;
  }

  /** Delete a subsystem: its hosts are disconnected and its I/O ends (completed or aborted, once); no reactor waits. */
  async deleteSubsystem(nqn: string): Promise<void> {
    const s = this.subsystem(nqn);
    await this.engine.request(`deleting subsystem ${nqn}`, (r) => this.core.nvmf_subsystem_delete(r, s.ptr));
    this.subsystemsByNqn.delete(nqn);
    for (const addr of s.listeners) await this.releaseListener(nqn, addr);
  }

  async addNamespace(nqn: string, ns: NamespaceSpec): Promise<number> {
    const s = this.subsystem(nqn);
    const nsid = ns.nsid ?? 0;
    if (!Number.isInteger(nsid) || nsid < 0 || nsid > s.maxNamespaces) fail('EINVAL', `nsid ${nsid} must be from 1 to max_namespaces (${s.maxNamespaces}), or 0 for the lowest free one`);
    if (nsid !== 0 && s.namespaces.some((n) => n.nsid === nsid)) fail('EEXIST', `subsystem ${nqn} already has namespace ${nsid}`);
    const uuid = hexId(ns.uuid, 16, 'uuid');
    const nguid = hexId(ns.nguid, 16, 'nguid');
    const eui64 = hexId(ns.eui64, 8, 'eui64');
    await this.engine.bdev.waitForExamine();
    const info = this.engine.bdev.info(ns.bdev);
    const got = await this.withText(`adding bdev ${ns.bdev} to ${nqn}`, [uuid, nguid, eui64],
      (r, [u, g, e]) => this.core.nvmf_ns_add(r, s.ptr, info.id, nsid, u, g, e));
    s.namespaces.push({ nsid: got, bdev: info.name, uuid: ns.uuid, nguid: ns.nguid, eui64: ns.eui64 });
    s.namespaces.sort((a, b) => a.nsid - b.nsid);
    return got;
  }

  async removeNamespace(nqn: string, nsid: number): Promise<void> {
    const s = this.subsystem(nqn);
    if (!s.namespaces.some((n) => n.nsid === nsid)) fail('ENOENT', `subsystem ${nqn} has no namespace ${nsid}`);
    await this.engine.request(`removing namespace ${nsid} of ${nqn}`, (r) => this.core.nvmf_ns_remove(r, s.ptr, nsid));
    s.namespaces = s.namespaces.filter((n) => n.nsid !== nsid);
  }

  async addHost(nqn: string, host: string): Promise<void> {
    const s = this.subsystem(nqn);
    checkNqn(host, 'host NQN');
    if (s.hosts.includes(host)) fail('EEXIST', `host ${host} is already allowed on ${nqn}`);
    await this.withText(`allowing host ${host} on ${nqn}`, [host], (r, [h]) => this.core.nvmf_host_add(r, s.ptr, h));
    s.hosts.push(host);
  }

  async removeHost(nqn: string, host: string): Promise<void> {
    const s = this.subsystem(nqn);
    if (!s.hosts.includes(host)) fail('ENOENT', `host ${host} is not on ${nqn}'s list`);
    await this.withText(`removing host ${host} from ${nqn}`, [host], (r, [h]) => this.core.nvmf_host_remove(r, s.ptr, h));
    s.hosts = s.hosts.filter((h) => h !== host);
  }

  async allowAnyHost(nqn: string, allow: boolean): Promise<void> {
    const s = this.subsystem(nqn);
    await this.engine.request(`allow_any_host on ${nqn}`, (r) => this.core.nvmf_allow_any_host(r, s.ptr, allow ? 1 : 0));
    s.allowAnyHost = allow;
  }

  // ---- listeners: one socket per address, shared by the subsystems that listen there ----

  async addListener(nqn: string, address: ListenAddress): Promise<void> {
    const s = nqn === DISCOVERY_NQN ? this.discoverySubsystem() : this.subsystem(nqn);
    const addr = normalizeAddress(address);
    if (s.listeners.some((l) => sameAddress(l, addr))) fail('EEXIST', `${nqn} already listens on ${addr.traddr}:${addr.trsvcid}`);
    const transport = this.transportsByType.get(addr.trtype);
    if (!transport) fail('ENODEV', `no ${addr.trtype} transport: create it first (nvmf_create_transport -t ${addr.trtype})`);
    const key = addressKey(addr);
    let l = this.listenersByKey.get(key);
    if (!l) {
      const id = await this.withText(`adding listener ${addr.traddr}:${addr.trsvcid}`, [addr.traddr, addr.trsvcid],
        (r, [a, p]) => this.core.nvmf_listener_add(r, TRTYPES[addr.trtype], ADRFAMS[addr.adrfam.toUpperCase()], a, p));
      try {
        await transport.listen(id, addr);
      } catch (err) {
        await this.engine.request(`removing listener ${addr.traddr}:${addr.trsvcid}`, (r) => this.core.nvmf_listener_remove(r, id)).catch(() => undefined);
        throw err;
      }
      l = { id, addr, users: new Set() };
      this.listenersByKey.set(key, l);
    }
    try {
      await this.engine.request(`letting ${nqn} listen on ${addr.traddr}:${addr.trsvcid}`, (r) => this.core.nvmf_subsystem_listener_add(r, s.ptr, l!.id));
    } catch (err) {
      if (l.users.size === 0) await this.closeListener(l);
      throw err;
    }
    l.users.add(nqn);
    s.listeners.push(addr);
  }

  async removeListener(nqn: string, address: ListenAddress): Promise<void> {
    const s = nqn === DISCOVERY_NQN ? this.discoverySubsystem() : this.subsystem(nqn);
    const addr = normalizeAddress(address);
    const l = this.listenersByKey.get(addressKey(addr));
    if (!l || !l.users.has(nqn)) fail('ENOENT', `${nqn} does not listen on ${addr.traddr}:${addr.trsvcid}`);
    await this.engine.request(`removing listener ${addr.traddr}:${addr.trsvcid} from ${nqn}`, (r) => this.core.nvmf_subsystem_listener_remove(r, s.ptr, l.id));
    s.listeners = s.listeners.filter((a) => !sameAddress(a, addr));
    await this.releaseListener(nqn, addr);
  }

  /** `nqn` no longer uses `addr`; the last user closes the socket (connections already made stay, as in SPDK). */
  private async releaseListener(nqn: string, addr: ListenAddressFull): Promise<void> {
    const l = this.listenersByKey.get(addressKey(addr));
    if (!l) return;
    l.users.delete(nqn);
    if (l.users.size === 0) await this.closeListener(l);
  }

  private async closeListener(l: Listener): Promise<void> {
    this.listenersByKey.delete(addressKey(l.addr));
    await this.transportsByType.get(l.addr.trtype)?.unlisten(l.id);
    await this.engine.request(`removing listener ${l.addr.traddr}:${l.addr.trsvcid}`, (r) => this.core.nvmf_listener_remove(r, l.id));
  }

  // ---- discovery referrals ----

  async addReferral(address: ListenAddress, subnqn?: string): Promise<void> {
    const addr = normalizeAddress(address);
    if (subnqn !== undefined) checkNqn(subnqn, 'subnqn');
    if (this.referralList.some((r) => sameAddress(r.addr, addr) && r.subnqn === subnqn)) fail('EEXIST', `a referral to ${addr.traddr}:${addr.trsvcid} already exists`);
    await this.withText(`adding referral ${addr.traddr}:${addr.trsvcid}`, [addr.traddr, addr.trsvcid, subnqn ?? DISCOVERY_NQN],
      (r, [a, p, n]) => this.core.nvmf_referral_add(r, TRTYPES[addr.trtype], ADRFAMS[addr.adrfam.toUpperCase()], a, p, n));
    this.referralList.push({ addr, subnqn });
  }

  referrals(): Referral[] { return this.referralList.map((r) => ({ addr: { ...r.addr }, subnqn: r.subnqn })); }

  // ---- what there is ----

  subsystems(nqn?: string): SubsystemInfo[] {
    const all = nqn === undefined ? [this.discovery, ...this.subsystemsByNqn.values()] : [nqn === DISCOVERY_NQN ? this.discovery : this.subsystem(nqn)];
    return all.map(({ ptr: _ptr, ...info }) => ({
      ...info, hosts: [...info.hosts], listeners: info.listeners.map((a) => ({ ...a })), namespaces: info.namespaces.map((n) => ({ ...n })),
    }));
  }

  /** A subsystem's connected controllers (the core's dump). */
  controllers(nqn: string): ControllerInfo[] { return this.dump(nqn).controllers; }

  /** A subsystem's queue pairs, each with its host and the listener it came through (the core's dump). */
  qpairs(nqn: string): QpairInfo[] {
    const { controllers, qpairs } = this.dump(nqn);
    const hostOf = new Map(controllers.map((c) => [c.cntlid, c.hostnqn]));
    const addressOf = new Map([...this.listenersByKey.values()].map((l) => [l.id, l.addr]));
    return qpairs.map((q) => {
      const listen = addressOf.get(q.listenerId);
      return { ...q, hostnqn: hostOf.get(q.cntlid) ?? '', ...(listen ? { listen: { ...listen } } : {}) };
    });
  }

  private dump(nqn: string): { controllers: DumpedController[]; qpairs: DumpedQpair[] } {
    const s = nqn === DISCOVERY_NQN ? this.discoverySubsystem() : this.subsystem(nqn);
    return dumpSubsystem(this.core, this.engine.memory, s.ptr, `listing the controllers of ${nqn}`);
  }

  /** nvmf_get_stats' poll groups: one per reactor, each with its transports' counters. */
  pollGroupStats(): Record<string, unknown>[] {
    const groups: Record<string, unknown>[] = [];
    for (const { trtype, groups: counters } of this.stats()) {
      counters.forEach((c, i) => {
        groups[i] ??= { name: pollGroupName(i), transports: [] };
        (groups[i].transports as unknown[]).push({ trtype, ...c });
      });
    }
    return groups;
  }

  /** Every transport's per poll group counters. */
  stats(): { trtype: string; groups: Record<string, unknown>[] }[] {
    return [...this.transportsByType].map(([trtype, t]) => ({ trtype, groups: t.stats() }));
  }

  /** Delete every subsystem, then every transport (the serve command's shutdown and Engine.stop). */
  async deleteAll(): Promise<void> {
    for (const nqn of [...this.subsystemsByNqn.keys()]) await this.deleteSubsystem(nqn);
    for (const addr of [...this.discovery.listeners]) await this.removeListener(DISCOVERY_NQN, addr);
    for (const [type, t] of [...this.transportsByType]) { await t.destroy(); this.transportsByType.delete(type); }
  }
}
