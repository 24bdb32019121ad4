// The seam between the NVMe-oF control plane (host/nvmf.ts) and its transport modules: what a
// transport offers, and the registry of factories by trtype. host/nvmf-modules.ts registers the ones
// this build ships (`registerNvmfTransport('TCP', NvmfTcpTransport.create)`); tests register their own
// fakes the same way, and can withdraw a type (null) to see nvmf_create_transport refuse it.
import type { Engine } from './engine.js';
import { WstorError } from './errors.js';

/** The NVMe-oF transport types wstor can name, with their numbers in the discovery log (TRTYPE). */
export const NVMF_TRTYPES: Readonly<Record<string, number>> = { TCP: 3 };

/** A listen address with every field filled in, SPDK's spelling (trtype "TCP", adrfam "IPv4"). */
export interface ListenAddressFull { trtype: string; adrfam: string; traddr: string; trsvcid: string }

/** What a transport module offers host/nvmf.ts (host/nvmf-tcp.ts implements it for TCP). */
export interface NvmfTransportBackend {
  /** The options it was created with, every one filled in (nvmf_get_transports, save_config). */
  readonly options: Record<string, unknown>;
  /** The core's transport pointer. */
  readonly ptr: number;
  /** Accept connections on `addr` for the core's listener `listenerId`; a WstorError naming the address if the bind fails. */
  listen(listenerId: number, addr: ListenAddressFull): Promise<void>;
  unlisten(listenerId: number): Promise<void>;
  destroy(): Promise<void>;
  /** Per poll group counters, as nvmf_get_stats lists them under "transports". */
  stats(): Record<string, unknown>[];
}

/** Makes a transport for one engine; `options` are nvmf_create_transport's, type-checked, a numeric 0 meaning the default. */
export type NvmfTransportFactory = (engine: Engine, options: Record<string, unknown>) => Promise<NvmfTransportBackend>;

const factoriesByType = new Map<string, NvmfTransportFactory>();

/**
 * Make `factory` the one nvmf_create_transport uses for `trtype`; null withdraws it (nvmf_create_transport
 * then refuses the type). Returns a function that puts back what was registered before (a test's fake
 * stands in for the real module, then leaves).
 */
export function registerNvmfTransport(trtype: string, factory: NvmfTransportFactory | null): () => void {
  const type = trtype.toUpperCase();
  if (!(type in NVMF_TRTYPES)) {
    throw new WstorError('EINVAL', `transport type ${trtype} has no NVMe-oF number wstor knows (known: ${Object.keys(NVMF_TRTYPES).join(', ')})`);
  }
  const before = factoriesByType.get(type);
  if (factory) factoriesByType.set(type, factory); else factoriesByType.delete(type);
  return () => {
    if (factoriesByType.get(type) !== (factory ?? undefined)) return;   // replaced since: leave the newer one
    if (before) factoriesByType.set(type, before); else factoriesByType.delete(type);
  };
}

/** Whether a module registered `trtype` (tests that need the real transport skip until one has). */
export function nvmfTransportRegistered(trtype: string): boolean { return factoriesByType.has(trtype.toUpperCase()); }

/** The factory for `trtype` (upper case); a WstorError ENOTSUP naming the transport when none is registered. */
export function nvmfTransportFactory(trtype: string): NvmfTransportFactory {
  const factory = factoriesByType.get(trtype);
  if (factory) return factory;
  const known = trtype in NVMF_TRTYPES;
  throw new WstorError('ENOTSUP', known
    ? `the NVMe-oF ${trtype} transport is not available in this build (no module registered it): nvmf_create_transport cannot make it`
    : `transport type ${trtype} is not supported (wstor knows: ${Object.keys(NVMF_TRTYPES).join(', ')})`);
}
