// SPDK's JSON config: {"subsystems":[{"subsystem":"bdev","config":[{"method":…,"params":{…}}]}]}.
// Loading replays each entry through the method table, in order, exactly as an RPC would run; the
// first entry that fails stops start-up with a message naming the subsystem, the entry and the field.
import { WstorError } from '../errors.js';
import { RpcError } from '../rpc/errors.js';
import type { ConfigEntry } from './target.js';

export interface SubsystemConfig { subsystem: string; config: ConfigEntry[] | null }
export interface JsonConfig { subsystems: SubsystemConfig[] }

/** Bound on a config file (a config with 100k bdevs is still far below it). */
export const CONFIG_MAX_BYTES = 64 << 20;

function fail(where: string, message: string): never {
  throw new WstorError('EINVAL', `config ${where}: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse and check a config's shape (not yet its methods' params: the replay checks those). */
export function parseConfig(text: string, source: string): JsonConfig {
  if (text.length > CONFIG_MAX_BYTES) fail(source, `is larger than ${CONFIG_MAX_BYTES} bytes`);
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (err) { fail(source, `is not valid JSON: ${(err as Error).message}`); }
  if (!isObject(doc)) fail(source, 'must be a JSON object with a "subsystems" array');
  if (!Array.isArray(doc.subsystems)) fail(source, '"subsystems" must be an array');
  for (const key of Object.keys(doc)) if (key !== 'subsystems') fail(source, `unknown top-level field "${key}" (only "subsystems")`);
  const subsystems = doc.subsystems.map((s: unknown, i: number): SubsystemConfig => {
    const at = `${source}: subsystems[${i}]`;
    if (!isObject(s)) fail(at, 'must be an object with "subsystem" and "config"');
    if (typeof s.subsystem !== 'string') fail(at, '"subsystem" must be a string');
    if (s.config !== null && s.config !== undefined && !Array.isArray(s.config)) fail(`${at} (${s.subsystem})`, '"config" must be an array or null');
    const config = ((s.config ?? null) as unknown[] | null)?.map((e, j): ConfigEntry => {
      const where = `${at}.config[${j}]`;
      if (!isObject(e)) fail(where, 'must be an object with "method" and "params"');
      if (typeof e.method !== 'string') fail(where, '"method" must be a string');
      if (e.params !== undefined && !isObject(e.params)) fail(`${where} (${e.method})`, '"params" must be an object');
      for (const key of Object.keys(e)) if (key !== 'method' && key !== 'params') fail(`${where} (${e.method})`, `unknown field "${key}"`);
      return { method: e.method, params: (e.params ?? {}) as Record<string, unknown> };
    }) ?? null;
    return { subsystem: s.subsystem, config };
  });
  return { subsystems };
}

/**
 * Run every entry of every subsystem through `call` (the method table), in order. Subsystems wstor
 * does not have are skipped when their config is empty (SPDK's save_config lists them all) and refused
 * when they ask for something. `known` is framework_get_subsystems' list.
 */
export async function replayConfig(config: JsonConfig, source: string, known: string[],
  call: (method: string, params: Record<string, unknown>) => Promise<unknown>, log: (message: string) => void): Promise<number> {
  let entries = 0;
  for (const [i, s] of config.subsystems.entries()) {
    const list = s.config ?? [];
    if (!known.includes(s.subsystem)) {
      if (list.length === 0) { log(`config ${source}: subsystem ${s.subsystem} is not part of wstor; its empty config is skipped`); continue; }
      fail(`${source}: subsystems[${i}]`, `subsystem "${s.subsystem}" is not part of wstor (it has: ${known.join(', ')}); remove its entries`);
    }
    for (const [j, e] of list.entries()) {
      try {
        await call(e.method, e.params);
      } catch (err) {
        const code = err instanceof RpcError || err instanceof WstorError ? ` (${(err as RpcError).code})` : '';
        fail(`${source}: subsystems[${i}] (${s.subsystem}) config[${j}] ${e.method}`, `${(err as Error).message}${code}`);
      }
      entries++;
    }
  }
  return entries;
}

/** The target's config as framework_get_config gives it, subsystem by subsystem (SPDK's save_config). */
export async function saveConfig(subsystems: string[], getConfig: (name: string) => Promise<unknown>): Promise<JsonConfig> {
  const out: JsonConfig = { subsystems: [] };
  for (const name of subsystems) out.subsystems.push({ subsystem: name, config: (await getConfig(name)) as ConfigEntry[] });
  return out;
}
