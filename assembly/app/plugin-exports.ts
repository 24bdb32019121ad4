// Host calls about plugin bdevs (assembly/bdev/plugin): creating one on the app thread (it ends with
// EVENT_REQUEST_DONE(id, rc, bdev id)), and reading its trap counters.

import { bdevById, Bdev } from "../bdev";
import { heapAlloc, heapFree } from "../runtime";
import { onAppThread, requestDone } from "./request";
import { pluginBdevCreate, pluginBdevInfo } from "../bdev/plugin";

@unmanaged class PluginReq {
  id: u32; baseId: u32; name: usize; module: usize; moduleLen: u32; config: usize; configLen: u32;
  fuel: u32; maxTraps: u32; trapWindowMs: u32; metaBytes: u32;
}

function created(req: usize, bdev: usize, rc: i32): void {
  requestDone(changetype<PluginReq>(req).id, rc, bdev == 0 ? 0 : <f64>changetype<Bdev>(bdev).id);
  heapFree(req);
}

function createMsg(req: usize): void {
  const r = changetype<PluginReq>(req);
  pluginBdevCreate(r.name, r.baseId, r.module, r.moduleLen, r.config, r.configLen, r.fuel, r.maxTraps, r.trapWindowMs, r.metaBytes, created, req);
}

/** bdev_plugin_create's limits, four u32 words the host writes (read once, at the call). */
@unmanaged class PluginLimits { fuel: u32; maxTraps: u32; trapWindowMs: u32; metaBytes: u32; }
export const PLUGIN_LIMITS_BYTES: i32 = 16;

/**
 * A plugin bdev `name` over `baseId`: `module` (the metered plugin) and `config` are heap blocks
 * (wstor_alloc) that become the bdev's, or are freed if it cannot be made; `limits` points at a
 * PluginLimits (fuel, max traps, trap window in ms, metadata bytes per block kept in the base's tail).
 * EVENT_REQUEST_DONE(reqId, rc, bdev id). Returns 0, or -errno (not posted: the blocks are still the caller's).
 */
export function bdev_plugin_create(reqId: u32, name: usize, baseId: u32, module: usize, moduleLen: u32, config: usize, configLen: u32, limits: usize): i32 {
  const l = changetype<PluginLimits>(limits);
  if (module == 0 || moduleLen == 0 || limits == 0) return -22;
  const fuel = l.fuel, maxTraps = l.maxTraps, trapWindowMs = l.trapWindowMs, metaBytes = l.metaBytes;
  if (maxTraps == 0 || metaBytes > 64) return -22;
  const req = heapAlloc(offsetof<PluginReq>());
  if (req == 0) return -12;
  const r = changetype<PluginReq>(req);
  r.id = reqId; r.baseId = baseId; r.name = name; r.module = module; r.moduleLen = moduleLen; r.config = config; r.configLen = configLen;
  r.fuel = fuel; r.maxTraps = maxTraps; r.trapWindowMs = trapWindowMs; r.metaBytes = metaBytes;
  const rc = onAppThread(createMsg, req);
  if (rc != 0) heapFree(req);
  return rc;
}

/** Plugin bdev `id`'s counters (bdev/plugin pluginBdevInfo: 0 traps, 1 failed, 2 plugin id, 3 metadata bytes per block); -1 not a plugin bdev, -19 none. */
export function bdev_plugin_info(id: u32, which: u32): f64 {
  const b = bdevById(id);
  return b == 0 ? -19 : pluginBdevInfo(b, which);
}
