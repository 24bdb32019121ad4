// An NVMe/TCP target on loopback for tests: an engine, one malloc or file namespace, the TCP transport
// listening on a free port. Set up through the core's exports directly (host/nvmf.ts has its own tests).
import assert from 'node:assert/strict';
import { Engine } from '../../host/index.js';
import { NvmfTcpTransport } from '../../host/nvmf-tcp.js';
import type { QueueOptions } from './nvme-tcp-client.js';
import { freePort } from './free-port.js';

export const SUBNQN = 'nqn.2016-06.io.spdk:loop1';
export const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:6b1e2c9a-3f4d-4e5a-8b7c-0d1e2f3a4b5c';
const TRTYPE_TCP = 3;
const ADRFAM_IPV4 = 1;


/** Strings in core memory for one request; freed after. */
async function withStrings<T>(engine: Engine, strings: string[], fn: (ptrs: number[]) => Promise<T>): Promise<T> {
  const ptrs = strings.map((s) => {
    const b = Buffer.from(`${s}\0`, 'latin1');
    const p = engine.core.wstor_alloc(b.length) >>> 0;
    new Uint8Array(engine.memory.buffer, p, b.length).set(b);
    return p;
  });
  try { return await fn(ptrs); } finally { for (const p of ptrs) engine.core.wstor_free(p); }
}

export interface Target { engine: Engine; transport: NvmfTcpTransport; port: number; listenerId: number; sub: number }

/** `file`: the namespace is a file bdev, so its completions share each reactor's ring with the sockets'. */
export async function startTarget(opts: { file?: string; transport?: Record<string, unknown>; port?: number } = {}): Promise<Target> {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 256 << 20 });
  const bdev = opts.file
    ? engine.bdev.createFile('File0', { path: opts.file, blockSize: 512 }).id
    : engine.bdev.createMalloc('Malloc0', { blockSize: 512, blockCount: 65536 });
  const port = opts.port ?? await freePort();
  const listenerId = await withStrings(engine, ['127.0.0.1', String(port)], ([a, s]) =>
    engine.request('listener', (r) => engine.core.nvmf_listener_add(r, TRTYPE_TCP, ADRFAM_IPV4, a, s)));
  const sub = await withStrings(engine, [SUBNQN, 'SN0001', 'wstor test'], ([n, sn, mn]) =>
    engine.request('subsystem', (r) => engine.core.nvmf_subsystem_create(r, n, sn, mn, 32, 1, 1, 0xffef)));
  await engine.request('ns', (r) => engine.core.nvmf_ns_add(r, sub, bdev, 1, 0, 0, 0));
  await engine.request('sub listener', (r) => engine.core.nvmf_subsystem_listener_add(r, sub, listenerId));
  const transport = await NvmfTcpTransport.create(engine, { num_shared_buffers: 64, ...opts.transport });
  await transport.listen(listenerId, { traddr: '127.0.0.1', trsvcid: String(port) });
  return { engine, transport, port, listenerId, sub };
}

/** Subsystems go first (as host/nvmf.ts orders it): a poll group's thread holds namespace channels until then. */
export async function stopTarget(t: Target): Promise<void> {
  await t.engine.request('delete subsystem', (r) => t.engine.core.nvmf_subsystem_delete(r, t.sub));
  await t.transport.destroy();
  await t.engine.stop();
}

/** The qpairs' peers from nvmf_subsystem_dump (format: assembly/app/nvmf-exports.ts). */
export function qpairPeers(t: Target): { addr: string; port: number }[] {
  const core = t.engine.core;
  const cap = 64 << 10;
  const at = core.wstor_alloc(cap) >>> 0;
  try {
    const n = core.nvmf_subsystem_dump(t.sub, at, cap);
    assert.ok(n > 0, `dump: ${n}`);
    const b = Buffer.from(new Uint8Array(t.engine.memory.buffer, at, n));
    const ctrls = b.readUInt32LE(4);
    const qpairs = b.readUInt32LE(8);
    const out = [];
    for (let i = 0; i < qpairs; i++) {
      const q = 16 + ctrls * 288 + i * 88;
      const addr = b.subarray(q + 24, q + 88);
      out.push({ addr: addr.subarray(0, addr.indexOf(0)).toString('latin1'), port: b.readUInt32LE(q + 16) });
    }
    return out;
  } finally {
    core.wstor_free(at);
  }
}

export const qopts = (port: number, extra: Partial<QueueOptions> = {}): QueueOptions => ({ host: '127.0.0.1', port, subnqn: SUBNQN, hostnqn: HOSTNQN, ...extra });

