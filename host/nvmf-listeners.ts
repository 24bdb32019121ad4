// The target's listen sockets: one per address, shared by every subsystem that listens there. The
// first subsystem on an address makes the core's listener and has the transport listen; the last one
// to leave closes it (connections already made stay, as in SPDK). Changes to one address run in turn.
import type { Engine } from './engine.js';
import { KeyedSerial } from './keyed-serial.js';
import { NVMF_ADRFAMS, addressKey, addressText, fail } from './nvmf-checks.js';
import { NVMF_TRTYPES, type ListenAddressFull, type NvmfTransportBackend } from './nvmf-transports.js';
import { withCoreBytes } from './nvmf-strings.js';

interface Listener { id: number; addr: ListenAddressFull; transport: NvmfTransportBackend; users: Set<string> }

export class NvmfListeners {
  private readonly byKey = new Map<string, Listener>();
  private readonly serial = new KeyedSerial();

  constructor(private readonly engine: Engine) {}

  /**
   * Let subsystem `nqn` (core pointer `sub`) accept connections on `addr` through `transport`:
   * the socket is opened if it is the first user, and closed again if the core refuses the subsystem.
   */
  attach(nqn: string, sub: number, addr: ListenAddressFull, transport: NvmfTransportBackend): Promise<void> {
    return this.serial.run(addressKey(addr), async () => {
      const l = this.byKey.get(addressKey(addr)) ?? await this.open(addr, transport);
      if (l.users.has(nqn)) fail('EEXIST', `${nqn} already listens on ${addressText(addr)}`);
      try {
        await this.engine.request(`letting ${nqn} listen on ${addressText(addr)}`, (r) => this.engine.core.nvmf_subsystem_listener_add(r, sub, l.id));
      } catch (err) {
        if (l.users.size === 0) await this.close(l);
        throw err;
      }
      l.users.add(nqn);
    });
  }

  /** Stop subsystem `nqn` accepting new connections on `addr` (its connected hosts stay). */
  detach(nqn: string, sub: number, addr: ListenAddressFull): Promise<void> {
    return this.serial.run(addressKey(addr), async () => {
      const l = this.byKey.get(addressKey(addr));
      if (!l || !l.users.has(nqn)) fail('ENOENT', `${nqn} does not listen on ${addressText(addr)}`);
      await this.engine.request(`removing listener ${addressText(addr)} from ${nqn}`, (r) => this.engine.core.nvmf_subsystem_listener_remove(r, sub, l.id));
      await this.leave(l, nqn);
    });
  }

  /** Subsystem `nqn` is gone (the core forgot its listeners with it): close what only it used. */
  forget(nqn: string, addr: ListenAddressFull): Promise<void> {
    return this.serial.run(addressKey(addr), async () => {
      const l = this.byKey.get(addressKey(addr));
      if (l?.users.has(nqn)) await this.leave(l, nqn);
    });
  }

  /** The address of the core's listener `id`, while a socket is open for it. */
  addressOf(id: number): ListenAddressFull | undefined {
    for (const l of this.byKey.values()) if (l.id === id) return { ...l.addr };
    return undefined;
  }

  private async open(addr: ListenAddressFull, transport: NvmfTransportBackend): Promise<Listener> {
    const id = await withCoreBytes(this.engine, `adding listener ${addressText(addr)}`, [addr.traddr, addr.trsvcid],
      (r, [a, p]) => this.engine.core.nvmf_listener_add(r, NVMF_TRTYPES[addr.trtype], NVMF_ADRFAMS[addr.adrfam.toUpperCase()], a, p));
    try {
      await transport.listen(id, addr);
    } catch (err) {
      await this.removeCoreListener(id, addr).catch(() => undefined);
      throw err;
    }
    const l: Listener = { id, addr, transport, users: new Set() };
    this.byKey.set(addressKey(addr), l);
    return l;
  }

  private async leave(l: Listener, nqn: string): Promise<void> {
    l.users.delete(nqn);
    if (l.users.size === 0) await this.close(l);
  }

  private async close(l: Listener): Promise<void> {
    this.byKey.delete(addressKey(l.addr));
    await l.transport.unlisten(l.id);
    await this.removeCoreListener(l.id, l.addr);
  }

  private removeCoreListener(id: number, addr: ListenAddressFull): Promise<number> {
    return this.engine.request(`removing listener ${addressText(addr)}`, (r) => this.engine.core.nvmf_listener_remove(r, id));
  }
}
