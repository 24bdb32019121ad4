// A stand-in NVMe-oF transport for the control plane's tests: registered for TCP through the same seam
// as the real module (host/nvmf-transports.ts), it opens no socket but keeps what a transport must
// (which core listener listens where, options filled in, per poll group stats) and refuses what a real
// one would: a port marked taken, a listener id listened on twice, an unknown one unlistened.
import type { Engine } from '../../host/engine.js';
import { WstorError } from '../../host/errors.js';
import { registerNvmfTransport, type ListenAddressFull, type NvmfTransportBackend } from '../../host/nvmf.js';

/** The options the fake fills in for a 0 or a missing value (a few of SPDK's TCP defaults). */
export const FAKE_DEFAULTS: Readonly<Record<string, number | boolean>> = {
  max_queue_depth: 128, max_io_qpairs_per_ctrlr: 127, in_capsule_data_size: 4096, max_io_size: 131072, io_unit_size: 131072,
  max_aq_depth: 128, c2h_success: true,
};

export class FakeTransport implements NvmfTransportBackend {
  readonly options: Record<string, unknown>;
  readonly ptr = 0;
  /** Core listener id → the address it listens on. */
  readonly listening = new Map<number, ListenAddressFull>();
  destroyed = false;

  constructor(private readonly engine: Engine, given: Record<string, unknown>, private readonly takenPorts: Set<string>) {
    this.options = { ...FAKE_DEFAULTS };
    for (const [k, v] of Object.entries(given)) if (v !== 0 || !(k in FAKE_DEFAULTS)) this.options[k] = v;
  }

  async listen(listenerId: number, addr: ListenAddressFull): Promise<void> {
    if (this.destroyed) throw new Error('fake transport: listen after destroy');
    if (this.listening.has(listenerId)) throw new Error(`fake transport: listener ${listenerId} listens already`);
    if (this.takenPorts.has(addr.trsvcid)) throw new WstorError('EADDRINUSE', `listening on ${addr.traddr}:${addr.trsvcid}: the address is in use`);
    this.listening.set(listenerId, { ...addr });
  }

  async unlisten(listenerId: number): Promise<void> {
    if (!this.listening.delete(listenerId)) throw new Error(`fake transport: listener ${listenerId} does not listen`);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) throw new Error('fake transport: destroyed twice');
    this.destroyed = true;
  }

  stats(): Record<string, unknown>[] {
    return Array.from({ length: this.engine.reactorCount }, () => ({ listening: this.listening.size }));
  }
}

export interface FakeTransports {
  /** Every transport the factory made, in order. */
  created: FakeTransport[];
  /** Ports whose listen fails with EADDRINUSE. */
  takenPorts: Set<string>;
  /** Put back what was registered for TCP before. */
  restore: () => void;
}

/** Register the fake as the TCP transport (until `restore`). */
export function useFakeTcpTransport(): FakeTransports {
  const created: FakeTransport[] = [];
  const takenPorts = new Set<string>();
  const restore = registerNvmfTransport('TCP', async (engine, options) => {
    const t = new FakeTransport(engine, options, takenPorts);
    created.push(t);
    return t;
  });
  return { created, takenPorts, restore };
}
