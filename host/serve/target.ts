// The running target behind `wstor serve` (SPDK's spdk_tgt): the engine, the framework's state
// (waiting for framework_start_init, running, stopping), and the configuration of the bdevs made
// through RPC or the JSON config, so framework_get_config can write it back out.
import type { Engine } from '../engine.js';
import { WstorError } from '../errors.js';
import { DISCOVERY_NQN } from '../nvmf.js';

export type TargetState = 'waiting' | 'running' | 'stopping';

/** One entry of a subsystem's config: an RPC call that recreates something. */
export interface ConfigEntry { method: string; params: Record<string, unknown> }

export class Target {
  private stateNow: TargetState;
  private readonly initWaiters: (() => void)[] = [];
  /** bdev name → the call that made it, in creation order (bases before what sits on them). */
  private readonly bdevCalls = new Map<string, ConfigEntry>();

  constructor(readonly engine: Engine, opts: { waitForRpc?: boolean } = {}) {
    this.stateNow = opts.waitForRpc ? 'waiting' : 'running';
    void engine.lvol;                          // examine every bdev from the start
  }

  get state(): TargetState { return this.stateNow; }

  /** framework_start_init: leave the --wait-for-rpc state. */
  startInit(): void {
    if (this.stateNow !== 'waiting') throw new WstorError('EPERM', 'the framework is already initialised (framework_start_init runs once, with --wait-for-rpc)');
    this.stateNow = 'running';
    for (const wake of this.initWaiters.splice(0)) wake();
  }

  /** framework_wait_init: resolves once the framework runs. */
  waitInit(): Promise<void> {
    if (this.stateNow !== 'waiting') return Promise.resolve();
    return new Promise((resolve) => this.initWaiters.push(resolve));
  }

  beginStop(): void { this.stateNow = 'stopping'; }

  recordBdev(name: string, method: string, params: Record<string, unknown>): void {
    this.bdevCalls.set(name, { method, params: { ...params } });
  }

  /** Change a recorded call's params (bdev_delay_update_latency, bdev_null_resize). */
  updateBdev(name: string, params: Record<string, unknown>): void {
    const call = this.bdevCalls.get(name);
    if (call) Object.assign(call.params, params);
  }

  forgetBdev(name: string): void { this.bdevCalls.delete(name); }

  /** The vhost_blk subsystem's config: a create call per controller (guests reconnect on their own). */
  vhostConfig(): ConfigEntry[] {
    return this.engine.vhost.list().map((c) => ({
      method: 'vhost_create_blk_controller',
      params: { ctrlr: c.name, dev_name: c.bdev, ...(c.readOnly ? { readonly: true } : {}), cpumask: c.cpumask },
    }));
  }

  /**
   * The nvmf subsystem's config, in the order SPDK writes it: target settings, transports, then each
   * subsystem with its listeners, hosts and namespaces, the discovery subsystem's listeners, referrals.
   */
  nvmfConfig(): ConfigEntry[] {
    const nvmf = this.engine.nvmf;
    const out: ConfigEntry[] = [{ method: 'nvmf_set_max_subsystems', params: { max_subsystems: nvmf.maxSubsystems } }];
    for (const t of nvmf.transports()) out.push({ method: 'nvmf_create_transport', params: { trtype: t.trtype, ...t.options } });
    for (const s of nvmf.subsystems()) {
      const nqn = s.nqn;
      if (s.subtype === 'NVMe') {
        out.push({
          method: 'nvmf_create_subsystem',
          params: {
            nqn, serial_number: s.serialNumber, model_number: s.modelNumber, max_namespaces: s.maxNamespaces,
            allow_any_host: s.allowAnyHost, min_cntlid: s.minCntlid, max_cntlid: s.maxCntlid,
          },
        });
      }
      for (const a of s.listeners) out.push({ method: 'nvmf_subsystem_add_listener', params: { nqn, listen_address: { ...a } } });
      for (const host of s.hosts) out.push({ method: 'nvmf_subsystem_add_host', params: { nqn, host } });
      for (const n of s.namespaces) {
        const ids = { ...(n.uuid ? { uuid: n.uuid } : {}), ...(n.nguid ? { nguid: n.nguid } : {}), ...(n.eui64 ? { eui64: n.eui64 } : {}) };
        out.push({ method: 'nvmf_subsystem_add_ns', params: { nqn, namespace: { nsid: n.nsid, bdev_name: n.bdev, ...ids } } });
      }
    }
    for (const r of nvmf.referrals()) {
      out.push({ method: 'nvmf_discovery_add_referral', params: { address: { ...r.addr }, ...(r.subnqn !== DISCOVERY_NQN ? { subnqn: r.subnqn } : {}) } });
    }
    return out;
  }

  /**
   * The bdev subsystem's config: the recorded calls of bdevs that still exist, then
   * bdev_wait_for_examine (SPDK ends it the same way: lvols come back by examine, not by calls).
   */
  bdevConfig(): ConfigEntry[] {
    const out: ConfigEntry[] = [];
    for (const [name, call] of this.bdevCalls) {
      if (this.engine.bdev.exists(name)) out.push({ method: call.method, params: { ...call.params } });
    }
    out.push({ method: 'bdev_wait_for_examine', params: {} });
    return out;
  }
}
