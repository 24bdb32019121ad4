// Engine-wide lists that several instances walk: every thread (for for_each_thread/for_each_channel)
// and every io_device. Guarded by one raw lock, held only across list edits and lookups.

import { REGISTRY_ROOT, rawLock, rawUnlock } from "../runtime";
import { Thread, IoDevice } from "./types";

@unmanaged class RegistryRoot {
  lock: i32;
  initState: i32;
  threadsHead: usize;     // ordered by thread id (ids only grow)
  threadsTail: usize;
  threadCount: u32;
  nextThreadId: u32;
  devicesHead: usize;
  reactorCount: u32;
  msgRingSize: u32;       // message ring of threads created without a size (0: DEFAULT_RING_SIZE)
}

// @ts-ignore: decorator
@inline function root(): RegistryRoot { return changetype<RegistryRoot>(REGISTRY_ROOT); }

export function registryInit(): void {
  const stateAddr = REGISTRY_ROOT + offsetof<RegistryRoot>("initState");
  if (atomic.cmpxchg<i32>(stateAddr, 0, 1) == 0) {
    const r = root();
    r.threadsHead = 0;
    r.threadsTail = 0;
    r.threadCount = 0;
    r.nextThreadId = 1;
    r.devicesHead = 0;
    atomic.store<i32>(stateAddr, 2);
    return;
  }
  while (atomic.load<i32>(stateAddr) != 2) {}
}

/** Size the message ring of threads created from now on without one (the host, before start-up). */
export function registrySetMsgRingSize(entries: u32): void { atomic.store<u32>(REGISTRY_ROOT + offsetof<RegistryRoot>("msgRingSize"), entries); }
export function registryMsgRingSize(): u32 { return atomic.load<u32>(REGISTRY_ROOT + offsetof<RegistryRoot>("msgRingSize")); }

export function registryLock(): void { rawLock(REGISTRY_ROOT); }
export function registryUnlock(): void { rawUnlock(REGISTRY_ROOT); }

/** Give the thread an id and append it. */
export function registryAddThread(t: Thread): void {
  registryLock();
  const r = root();
  t.id = r.nextThreadId++;
  t.nextGlobal = 0;
  if (r.threadsTail == 0) r.threadsHead = changetype<usize>(t);
  else changetype<Thread>(r.threadsTail).nextGlobal = changetype<usize>(t);
  r.threadsTail = changetype<usize>(t);
  r.threadCount++;
  registryUnlock();
}

export function registryRemoveThread(t: Thread): void {
  registryLock();
  const r = root();
  let prev: usize = 0;
  let cur = r.threadsHead;
  while (cur != 0 && cur != changetype<usize>(t)) { prev = cur; cur = changetype<Thread>(cur).nextGlobal; }
  assert(cur != 0, "registryRemoveThread: thread not registered");
  if (prev == 0) r.threadsHead = t.nextGlobal;
  else changetype<Thread>(prev).nextGlobal = t.nextGlobal;
  if (r.threadsTail == changetype<usize>(t)) r.threadsTail = prev;
  r.threadCount--;
  registryUnlock();
}

/** First thread with id > afterId; the caller holds the registry lock. 0 if none. */
export function registryThreadAfterLocked(afterId: u32): usize {
  let cur = root().threadsHead;
  while (cur != 0 && changetype<Thread>(cur).id <= afterId) cur = changetype<Thread>(cur).nextGlobal;
  return cur;
}

export function registryThreadCount(): u32 { return atomic.load<u32>(REGISTRY_ROOT + offsetof<RegistryRoot>("threadCount")); }

/** Thread by id, or 0. */
export function registryFindThread(id: u32): usize {
  registryLock();
  let cur = root().threadsHead;
  while (cur != 0 && changetype<Thread>(cur).id != id) cur = changetype<Thread>(cur).nextGlobal;
  registryUnlock();
  return cur;
}

/** Device registered under `key`; the caller holds the registry lock. */
export function registryFindDeviceLocked(key: usize): usize {
  let cur = root().devicesHead;
  while (cur != 0 && changetype<IoDevice>(cur).key != key) cur = changetype<IoDevice>(cur).next;
  return cur;
}

export function registryAddDeviceLocked(dev: IoDevice): void {
  dev.next = root().devicesHead;
  root().devicesHead = changetype<usize>(dev);
}

export function registryRemoveDeviceLocked(dev: IoDevice): void {
  let link = REGISTRY_ROOT + offsetof<RegistryRoot>("devicesHead");
  while (load<usize>(link) != changetype<usize>(dev)) {
    assert(load<usize>(link) != 0, "registryRemoveDevice: not registered");
    link = load<usize>(link) + offsetof<IoDevice>("next");
  }
  store<usize>(link, dev.next);
}

/** Every registered device, for the leak report at engine stop. */
export function registryFirstDevice(): usize { return root().devicesHead; }

export function registrySetReactorCount(n: u32): void { root().reactorCount = n; }
export function registryReactorCount(): u32 { return root().reactorCount; }
