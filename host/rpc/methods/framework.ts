// Framework methods (SPDK's names and result shapes): version, init state, subsystems and their
// config, reactors and threads, log levels.
import { WstorError } from '../../errors.js';
import type { LevelName } from '../../core-abi.js';
import type { Method } from './types.js';

export const WSTOR_VERSION = { major: 0, minor: 1, patch: 0, suffix: '' };

/** The subsystems whose config framework_get_config can give, in dependency order. */
export const SUBSYSTEMS = [
  { subsystem: 'bdev', depends_on: [] as string[] }, { subsystem: 'vhost_blk', depends_on: ['bdev'] }, { subsystem: 'nvmf', depends_on: ['bdev'] },
];

// SPDK's log level names and wstor's (fatal has no SPDK name: it is never a threshold worth setting).
const SPDK_LEVELS: Record<string, LevelName> = { ERROR: 'error', WARNING: 'warn', NOTICE: 'notice', INFO: 'info', DEBUG: 'debug' };
const spdkLevelOf = (l: LevelName) => Object.keys(SPDK_LEVELS).find((k) => SPDK_LEVELS[k] === l) ?? 'ERROR';

/** Ticks are nanoseconds: tick_rate in results is 1e9. */
const TICK_RATE = 1e9;

export const frameworkMethods: Method[] = [
  {
    name: 'spdk_get_version', description: 'The target\'s version', params: [], startup: true,
    run: () => ({ version: `wstor v${WSTOR_VERSION.major}.${WSTOR_VERSION.minor}.${WSTOR_VERSION.patch}`, fields: { ...WSTOR_VERSION } }),
  },
  {
    name: 'framework_wait_init', description: 'Returns once the framework is initialised (after framework_start_init with --wait-for-rpc)',
    params: [], startup: true,
    run: async (_p, t) => { await t.waitInit(); return true; },
  },
  {
    name: 'framework_start_init', description: 'Initialise the framework (serve started with --wait-for-rpc)', params: [], startup: true,
    run: (_p, t) => { t.startInit(); return true; },
  },
  {
    name: 'framework_get_subsystems', description: 'The subsystems and what each depends on', params: [],
    run: () => SUBSYSTEMS.map((s) => ({ subsystem: s.subsystem, depends_on: [...s.depends_on] })),
  },
  {
    name: 'framework_get_config', description: 'A subsystem\'s current config, as the calls that recreate it',
    params: [
      { name: 'name', type: 'string', required: true, description: 'subsystem name (framework_get_subsystems lists them)' },
      { name: 'with_batches', type: 'boolean', description: 'accepted for SPDK compatibility; wstor has no batched config entries' },
    ],
    run: (p, t) => {
      if (p.name === 'bdev') return t.bdevConfig();
      if (p.name === 'vhost_blk') return t.vhostConfig();
      if (p.name === 'nvmf') return t.nvmfConfig();
      throw new WstorError('ENOENT', `no subsystem named ${p.name} (there is: ${SUBSYSTEMS.map((s) => s.subsystem).join(', ')})`);
    },
  },
  {
    name: 'framework_get_reactors', description: 'Each reactor: its CPU, busy and idle time, and its threads', params: [],
    run: (_p, t) => {
      const e = t.engine;
      return {
        tick_rate: TICK_RATE, pid: process.pid,
        reactors: e.reactorStats().map((s, i) => ({
          lcore: e.pins ? e.pins[i] : i, busy: s.busyUs * 1000, idle: s.idleUs * 1000, in_interrupt: false,
          irq: 0, sys: 0, usr: 0, lw_threads_count: s.threads,
        })),
      };
    },
  },
  {
    name: 'thread_get_stats', description: 'Busy and idle time per reactor (wstor reports its reactors\' totals)', params: [],
    run: (_p, t) => ({
      tick_rate: TICK_RATE,
      threads: t.engine.reactorStats().map((s, i) => ({
        name: `reactor_${i}`, id: i + 1, cpumask: t.engine.pins ? `0x${(2 ** t.engine.pins[i]).toString(16)}` : 'any',
        busy: s.busyUs * 1000, idle: s.idleUs * 1000, lw_threads: s.threads,
      })),
    }),
  },
  {
    name: 'log_set_level', description: 'The lowest level that is logged', startup: true,
    params: [{ name: 'level', type: 'enum', required: true, values: Object.keys(SPDK_LEVELS), description: 'ERROR, WARNING, NOTICE, INFO or DEBUG' }],
    run: (p, t) => { t.engine.logLevel = SPDK_LEVELS[p.level as string]; return true; },
  },
  {
    name: 'log_get_level', description: 'The lowest level that is logged', params: [], startup: true,
    run: (_p, t) => spdkLevelOf(t.engine.logLevel),
  },
];
