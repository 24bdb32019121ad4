// A plugin kept alive on one reactor: calls go to its current instance; one that traps or runs past
// its budget fails that call and is replaced by a fresh instance (a new instantiation and init), so a
// plugin's broken state never outlives the call that broke it.

import { ERRNO } from '../core-constants.js';
import { PluginInstance, PluginTrap, type PluginSpec } from './instance.js';

/** What a call through a slot returns besides 0: the plugin failed the I/O itself. */
export const RC_PLUGIN_FAILED = -ERRNO.EIO;
/** The plugin trapped (or could not be replaced): counted against the bdev's trap budget. */
export const RC_PLUGIN_TRAPPED = -ERRNO.EFAULT;
/** The plugin ran past its fuel: counted like a trap. */
export const RC_PLUGIN_OVER_BUDGET = -ERRNO.ETIMEDOUT;

export type ReportFn = (level: 'error' | 'warn' | 'info', code: number, message: string) => void;

export class PluginSlot {
  private instance: PluginInstance | null;
  /** Instances this slot has made after the first (each one after a trap). */
  replaced = 0;

  /** The first instance is made here: a plugin that cannot start throws (WstorError or PluginTrap). */
  constructor(private readonly spec: PluginSpec, private readonly report: ReportFn) {
    this.instance = new PluginInstance(spec);
    this.dataBytes = this.instance.dataBytes;
    this.metaBytes = this.instance.metaBytes;
  }

  /** The data bytes one call carries at most, and the metadata bytes per block (fixed by the first instance). */
  readonly dataBytes: number;
  readonly metaBytes: number;

  /**
   * One call: `fill` copies the data into the window, wstor_io runs, `drain` copies the window out.
   * 0, RC_PLUGIN_FAILED, RC_PLUGIN_TRAPPED or RC_PLUGIN_OVER_BUDGET; nothing thrown.
   */
  run(op: number, offsetBlocks: number, numBlocks: number, fill: (window: Uint8Array) => void, drain: (window: Uint8Array) => void): number {
    const instance = this.instance ?? this.replace();
    if (instance === null) return RC_PLUGIN_TRAPPED;
    try {
      fill(instance.window());
      const rc = instance.io(op, offsetBlocks, numBlocks);
      if (rc !== 0) return RC_PLUGIN_FAILED;
      drain(instance.window());
      return 0;
    } catch (err) {
      if (!(err instanceof PluginTrap)) throw err;
      this.report('error', err.reason === 'fuel' ? RC_PLUGIN_OVER_BUDGET : RC_PLUGIN_TRAPPED, `${err.message}: that I/O fails and the instance is replaced`);
      this.instance = null;
      this.replace();
      return err.reason === 'fuel' ? RC_PLUGIN_OVER_BUDGET : RC_PLUGIN_TRAPPED;
    }
  }

  /** A fresh instance in place of one that trapped; null (reported) when even that fails. */
  private replace(): PluginInstance | null {
    try {
      const fresh = new PluginInstance(this.spec);
      if (fresh.metaBytes !== this.metaBytes) throw new Error(`its new instance asks for ${fresh.metaBytes} metadata bytes per block, not ${this.metaBytes}`);
      this.instance = fresh;
      this.replaced++;
    } catch (err) {
      this.report('error', RC_PLUGIN_TRAPPED, `plugin ${this.spec.name}: a new instance could not be made (${(err as Error).message}); its I/Os fail until one can`);
    }
    return this.instance;
  }
}
