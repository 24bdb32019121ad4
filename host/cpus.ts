// Which CPUs reactors run on (LESSONS 1). Reactors inherit the process's affinity, which the user
// sets for the whole process (taskset). A core mask or CPU list only chooses among those CPUs; a CPU
// outside the process's set is an error, never a silent override.

import { WstorError } from './errors.js';

/** "0-3,6" -> [0,1,2,3,6]. */
export function parseCpuList(text: string): number[] {
  const cpus = new Set<number>();
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new WstorError('EINVAL', `bad CPU list "${text}": "${part}" is not N or N-M`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi > 1023) throw new WstorError('EINVAL', `bad CPU list "${text}": range "${part}" is empty or beyond CPU 1023`);
    for (let c = lo; c <= hi; c++) cpus.add(c);
  }
  if (cpus.size === 0) throw new WstorError('EINVAL', `bad CPU list "${text}": no CPUs`);
  return [...cpus].sort((a, b) => a - b);
}

/** SPDK's core mask: "0x3" or "3" (hex) or a bracketed list "[0,2-3]". */
export function parseCoreMask(mask: string): number[] {
  const text = mask.trim();
  if (text.startsWith('[') && text.endsWith(']')) return parseCpuList(text.slice(1, -1));
  const hex = text.replace(/^0x/i, '');
  if (!/^[0-9a-f]+$/i.test(hex)) {
    throw new WstorError('EINVAL', `bad core mask "${mask}": use hex like 0x3 or a list like [0,2-3]`);
  }
  const bits = BigInt(`0x${hex}`);
  const cpus: number[] = [];
  for (let c = 0; c < 1024 && (bits >> BigInt(c)) !== 0n; c++) if ((bits >> BigInt(c)) & 1n) cpus.push(c);
  if (cpus.length === 0) throw new WstorError('EINVAL', `bad core mask "${mask}": selects no CPU`);
  return cpus;
}

export interface CpuPlan {
  /** Reactor count. */
  reactors: number;
  /** CPU for each reactor, or null: reactors are not pinned and keep the process's affinity. */
  pins: number[] | null;
  /** CPUs this process may use (from its affinity). */
  allowed: number[];
}

/**
 * Plan reactors onto CPUs. `cpus` (a list or a core mask) pins reactor i to its i-th CPU and must lie
 * within `allowed`; without it, `reactors` threads share the process's CPUs as the OS schedules them.
 */
export function planCpus(allowed: number[], reactors: number | undefined, cpus: number[] | string | undefined): CpuPlan {
  if (cpus === undefined) {
    const n = reactors ?? allowed.length;
    return { reactors: n, pins: null, allowed };
  }
  const chosen = typeof cpus === 'string' ? parseCoreMask(cpus) : [...cpus];
  const outside = chosen.filter((c) => !allowed.includes(c));
  if (outside.length > 0) {
    throw new WstorError('EINVAL',
      `CPU ${outside.join(',')} is outside this process's CPU affinity (${allowed.join(',')}); ` +
      `choose CPUs within it, or widen the process's affinity (taskset) first`);
  }
  if (reactors !== undefined && reactors !== chosen.length) {
    throw new WstorError('EINVAL', `reactors (${reactors}) must match the number of CPUs chosen (${chosen.length}); give one or the other`);
  }
  return { reactors: chosen.length, pins: chosen, allowed };
}
