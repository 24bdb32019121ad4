// A reactor's bootstrap under Node's worker_threads: the addon's io_uring, vhost seam, wake eventfds,
// CRC32C, CPU pinning and memory copies (for plugins) as the reactor's host imports (reactor-worker.ts
// runs it).
import { workerData, parentPort } from 'node:worker_threads';
import { loadNative } from './native/index.js';
import { nodeUringHandlers, nodeWakeFds } from './uring-host.js';
import { nodeVhostHandlers } from './vhost-seam.js';
import { nodeCrc32c } from './crc-host.js';
import { runReactor } from './reactor-worker.js';
import type { ReactorInit } from './platform.js';

const native = loadNative();
const pin = native ? (cpu: number) => { native.setThreadAffinity([cpu]); return native.getThreadId(); } : null;
const init = workerData as ReactorInit;
await runReactor(init, (m) => parentPort!.postMessage(m), pin, {
  uring: nodeUringHandlers(init.memory),
  vhost: nodeVhostHandlers(init.memory),
  wake: nodeWakeFds()?.write,
  crc32c: nodeCrc32c(init.memory),
}, native ? { from: native.copyFromMemory, into: native.copyIntoMemory } : undefined);
