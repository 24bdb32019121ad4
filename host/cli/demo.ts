// `wstor demo` (npm start): start an engine, pass work between reactors by message, print each step.
import { Engine } from '../engine.js';
import { EVENT_DEMO_DONE, EVENT_DEMO_STEP } from '../core-abi.js';
import { WstorError } from '../errors.js';
import { parseFlags, parseSize, usageText, type FlagSpec } from './args.js';

const SPECS: FlagSpec[] = [
  { name: 'reactors', short: 'r', kind: 'integer', help: 'number of reactors', default: 2 },
  { name: 'cpus', short: 'm', kind: 'string', help: 'pin reactors to these CPUs: core mask (0x3) or list ([0-1])' },
  { name: 'rounds', kind: 'integer', help: 'requests the app thread sends', default: 5 },
  { name: 'mem', kind: 'string', help: 'shared memory size', default: '64MiB' },
  { name: 'help', short: 'h', kind: 'boolean', help: 'show this help' },
];

export const demoUsage = usageText('demo [options]',
  'Starts an engine, sends work from an app thread on reactor 0 to a worker thread on the last\n' +
  'reactor by message, prints each completion as it comes back, and stops the engine.', SPECS);

export async function demoCommand(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, SPECS);
  if (flags.help) { process.stdout.write(demoUsage); return 0; }
  const rounds = flags.rounds as number;
  const startedAt = performance.now();
  const engine = await Engine.start({
    reactors: flags.cpus ? undefined : (flags.reactors as number),
    cpus: flags.cpus as string | undefined,
    memoryBytes: parseSize(flags.mem as string, '--mem'),
  });
  const say = (text: string) => process.stdout.write(`${text}\n`);
  const pinned = engine.pins ? `pinned to CPUs ${engine.pins.join(',')}` : `sharing this process's CPUs`;
  say(`engine up: ${engine.reactorCount} reactors (${pinned}), ${engine.memory.buffer.byteLength >> 20} MiB shared memory committed, ` +
    `started in ${(performance.now() - startedAt).toFixed(0)} ms`);
  const worker = engine.reactorCount - 1;
  say(`app_thread runs on reactor 0; demo_worker runs on reactor ${worker}`);
  say(`the app thread sends ${rounds} requests "sum of squares 1..n" by message; the worker answers by message`);

  const finished = new Promise<{ totalUs: number; errors: number }>((resolve) => {
    engine.onEvent((e) => {
      if (e.kind === EVENT_DEMO_STEP) {
        say(`  request ${e.a}: computed on reactor ${e.b} -> ${e.c}, completion delivered to app_thread on reactor ${e.reactor}`);
      } else if (e.kind === EVENT_DEMO_DONE) {
        resolve({ totalUs: e.b, errors: e.c });
      }
    });
  });
  const rc = engine.core.demo_start(rounds, worker);
  if (rc < 0) {
    await engine.stop();
    throw WstorError.fromErrno(rc, 'starting the demo');
  }
  const { totalUs, errors } = await finished;
  say(`${rounds} round trips in ${totalUs} us (mean ${(totalUs / Math.max(rounds, 1)).toFixed(1)} us per round trip)`);
  await engine.stop();
  const stats = engine.reactorStats();
  stats.forEach((s, i) => say(`reactor ${i}: ${s.loops} loops, ${s.sleeps} sleeps, ${s.wakesNotified} doorbell wakes`));
  say(errors === 0 ? 'engine stopped cleanly' : `engine stopped; ${errors} requests failed`);
  return errors === 0 ? 0 : 1;
}
