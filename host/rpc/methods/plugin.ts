// The plugin bdev methods (wstor's own; SPDK has no such module): create one over a base bdev from a
// .wasm file on the target's machine, delete it, list them. Each create is recorded for save_config,
// which writes the module's path back out (the file is read again on load).
import { readFile } from 'node:fs/promises';
import { WstorError } from '../../errors.js';
import { DEFAULT_LIMITS } from '../../plugins/abi.js';
import type { Target } from '../../serve/target.js';
import type { ParamSpec } from '../schema.js';
import { deleteOf, existing, made } from './bdev.js';
import type { Method } from './types.js';

const limitParams: ParamSpec[] = [
  { name: 'fuel', type: 'uint32', description: `fuel for one plugin call, about one unit per instruction (default ${DEFAULT_LIMITS.fuel})` },
  { name: 'memory_pages', type: 'uint32', description: `most 64 KiB pages the plugin's memory may declare (default ${DEFAULT_LIMITS.memoryPages})` },
  { name: 'max_traps', type: 'uint32', description: `traps or fuel overruns within trap_window_ms after which every I/O fails (default ${DEFAULT_LIMITS.maxTraps})` },
  { name: 'trap_window_ms', type: 'uint32', description: `the window max_traps counts in, ms (default ${DEFAULT_LIMITS.trapWindowMs})` },
];

async function moduleBytes(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new WstorError('ENOENT', `plugin module ${path} could not be read: ${(err as Error).message}`);
  }
}

function describe(t: Target, name: string): Record<string, unknown> {
  const info = t.engine.bdev.info(name);
  const p = info.plugin!;
  return {
    name: info.name, base_bdev_name: info.base, module: p.module, config: p.config,
    fuel: p.limits.fuel, memory_pages: p.limits.memoryPages, max_traps: p.limits.maxTraps, trap_window_ms: p.limits.trapWindowMs,
    meta_bytes_per_block: p.metaBytes, traps: p.traps, state: p.failed ? 'failed' : 'serving',
  };
}

export const pluginMethods: Method[] = [
  {
    name: 'bdev_plugin_create', description: 'wstor: a bdev whose reads and writes go through a sandboxed Wasm plugin over a base bdev (docs/plugins.md)',
    params: [
      { name: 'name', type: 'string', required: true, description: 'the new bdev' },
      { name: 'base_bdev_name', type: 'string', required: true, description: 'the base bdev (claimed)' },
      { name: 'module', type: 'string', required: true, description: 'path of the plugin\'s .wasm file on the target\'s machine' },
      { name: 'config', type: 'object', description: 'handed to the plugin\'s wstor_init as JSON (default {})' },
      ...limitParams,
      { name: 'uuid', type: 'uuid', description: 'the bdev\'s UUID (random if not given)' },
    ],
    run: async (p, t) => {
      await existing(t, p.base_bdev_name);
      await t.engine.bdev.createPlugin(p.name, p.base_bdev_name, {
        module: await moduleBytes(p.module), moduleName: p.module, config: p.config, uuid: p.uuid,
        fuel: p.fuel, memoryPages: p.memory_pages, maxTraps: p.max_traps, trapWindowMs: p.trap_window_ms,
      });
      const { uuid: _u, ...rest } = p;
      return made(t, p.name, 'bdev_plugin_create', rest);
    },
  },
  {
    name: 'bdev_plugin_delete', description: 'wstor: delete a plugin bdev (its base is released)',
    params: [{ name: 'name', type: 'string', required: true, description: 'the plugin bdev' }],
    run: (p, t) => deleteOf(t, p.name, 'plugin'),
  },
  {
    name: 'bdev_plugin_get_plugins', description: 'wstor: every plugin bdev (or the one named): its module, config, limits, traps and state',
    params: [{ name: 'name', type: 'string', description: 'one plugin bdev' }],
    run: (p, t) => {
      if (p.name !== undefined) {
        if (t.engine.bdev.info(p.name).kind !== 'plugin') throw new WstorError('ENODEV', `${p.name} is not a plugin bdev`);
        return [describe(t, p.name)];
      }
      return t.engine.bdev.list().filter((b) => b.kind === 'plugin').map((b) => describe(t, b.name));
    },
  },
];
