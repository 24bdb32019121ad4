// The part of an Engine that host/nvmf.ts uses (core, memory, reactorCount, request), over the
// deterministic harness: a request is posted, the harness's threads are polled until its
// EVENT_REQUEST_DONE, and it settles as Engine.request would. Lets NvmfApi run against a target whose
// connections the test makes by hand (tests/helpers/nvmf-target.ts).
import type { Engine } from '../../host/engine.js';
import { WstorError } from '../../host/errors.js';
import { EVENT_REQUEST_DONE } from '../../host/core-abi.js';
import type { Harness } from './core.js';

const FIRST_REQUEST_ID = 90000;

export function harnessEngine(h: Harness): Engine {
  let nextId = FIRST_REQUEST_ID;
  const request = (what: string, post: (id: number) => number): Promise<number> => {
    const id = nextId++;
    const rc = post(id);
    if (rc < 0) return Promise.reject(WstorError.fromErrno(rc, what));
    const done = () => h.events.find((x) => x.kind === EVENT_REQUEST_DONE && x.a === id);
    h.pollUntil(what, () => done() !== undefined);
    const { b: status, c: value } = done()!;
    return status < 0 ? Promise.reject(WstorError.fromErrno(status, what)) : Promise.resolve(value);
  };
  // Only what NvmfApi and its listeners touch; the rest of Engine is not there.
  return { core: h.core, memory: h.memory, reactorCount: 1, request } as unknown as Engine;
}
