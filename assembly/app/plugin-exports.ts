// Host calls about plugin bdevs (assembly/bdev/plugin): creating one on the app thread (it ends with
// EVENT_REQUEST_DONE(id, rc, bdev id)), and reading its trap counters.

import { bdevById, Bdev } from "../bdev";
import { heapAlloc, heapFree } from "../runtime";
import { onAppThread, requestDone } from "./request";
import { pluginBdevCreate, pluginBdevInfo } from "../bdev/plugin";
import { passthruError } from "../bdev/passthru";

@unmanaged class PluginReq {
  id: u32; baseId: u32; name: usize; module: usize; moduleLen: u32; config: usize; configLen: u32;
  fuel: u32; maxTraps: u32; trapWindowMs: u32;
}

function createMsg(req: usize): void {
  const r = changetype<PluginReq>(req);
  const b = pluginBdevCreate(r.name, r.baseId, r.module, r.moduleLen, r.config, r.configLen, r.fuel, r.maxTraps, r.trapWindowMs);
  if (b == 0) { heapFree(r.module); heapFree(r.config); }
  requestDone(r.id, b == 0 ? (passthruError != 0 ? passthruError : -12) : 0, b == 0 ? 0 : <f64>changetype<Bdev>(b).id);
  heapFree(req);
}

/**
 * A plugin bdev `name` over `baseId`: `module` (the metered plugin) and `config` are heap blocks
 * (wstor_alloc) that become the bdev's, or are freed if it cannot be made. EVENT_REQUEST_DONE(reqId,
 * rc, bdev id). Returns 0, or -errno (not posted: the blocks are still the caller's).
 */
export function bdev_plugin_create(reqId: u32, name: usize, baseId: u32, module: usize, moduleLen: u32, config: usize, configLen: u32,
  fuel: u32, maxTraps: u32, trapWindowMs: u32): i32 {
  if (module == 0 || moduleLen == 0 || maxTraps == 0) return -22;
  const req = heapAlloc(offsetof<PluginReq>());
  if (req == 0) return -12;
  const r = changetype<PluginReq>(req);
  r.id = reqId; r.baseId = baseId; r.name = name; r.module = module; r.moduleLen = moduleLen; r.config = config; r.configLen = configLen;
  r.fuel = fuel; r.maxTraps = maxTraps; r.trapWindowMs = trapWindowMs;
  const rc = onAppThread(createMsg, req);
  if (rc != 0) heapFree(req);
  return rc;
}

/** Plugin bdev `id`'s counters (bdev/plugin pluginBdevInfo: 0 traps, 1 failed, 2 plugin id); -1 not a plugin bdev, -19 none. */
export function bdev_plugin_info(id: u32, which: u32): f64 {
  const b = bdevById(id);
  return b == 0 ? -19 : pluginBdevInfo(b, which);
}
