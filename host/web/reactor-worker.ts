// A reactor's bootstrap in a browser Worker: its file-bdev imports are its ring to the OPFS worker
// (opfs-ring.ts); it sleeps on its doorbell (no eventfds), and says when it has ended.
import { runReactor } from '../reactor-worker.js';
import { ringSubmitter } from './opfs-ring.js';
import type { WebReactorInit, WorkerExit } from '../platform-web.js';
import type { WorkerMessage } from '../platform.js';

const scope = globalThis as unknown as { onmessage: ((e: MessageEvent<WebReactorInit>) => void) | null; postMessage(m: WorkerMessage | WorkerExit): void; close(): void };
scope.onmessage = (e) => {
  scope.onmessage = null;
  const init = e.data;
  void runReactor(init, (m) => scope.postMessage(m), null, { uring: ringSubmitter(init.opfsRing, init.opfsBell, init.memory) })
    .then(() => { scope.postMessage({ type: 'exit', code: 0 }); scope.close(); });
};
