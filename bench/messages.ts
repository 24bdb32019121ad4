// Issue 2's figures, side by side in one run (a benchmark, not a test): message throughput between two
// reactors against a raw SPSC ring in Wasm, round-trip latency with the target busy-polling and
// sleeping, allocator pairs per second on 1 and 2 reactors, and the CPU an idle engine uses.
// Usage: node build/bench/messages.js [--rounds N] [--json]
import { Engine } from '../host/index.js';
import { EVENT_TEST } from '../host/core-abi.js';
import type { CoreEvent } from '../host/index.js';
import os from 'node:os';

type Core = Record<string, (...args: number[]) => number>;
const BENCH_SPSC = 1, BENCH_MSGS = 2, BENCH_PINGPONG = 3, BENCH_ALLOC = 4;

const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1] || 5) || 5;
const asJson = args.includes('--json');

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const quantile = (xs: number[], q: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };
const log = (text: string) => { if (!asJson) console.log(text); };

async function main() {
  const engine = await Engine.start({ reactors: 2, core: 'core-test', memoryBytes: 1024 << 20 });
  const core = engine.core as unknown as Core;
  const pending: ((e: CoreEvent) => boolean)[] = [];
  engine.onEvent((e) => {
    if (e.kind !== EVENT_TEST) return;
    const i = pending.findIndex((f) => f(e));
    if (i >= 0) pending.splice(i, 1);
  });
  const next = (bench: number, count = 1) => new Promise<CoreEvent[]>((resolve) => {
    const got: CoreEvent[] = [];
    const take = (e: CoreEvent) => {
      if (e.a !== bench) return false;
      got.push(e);
      if (got.length === count) resolve(got); else pending.push(take);
      return true;
    };
    pending.push(take);
  });

  const producer = core.b_thread(0);
  const consumer = core.b_thread(1);
  const MSGS = 4_000_000;

  // Throughput: alternate raw / engine one at a time / engine batched, `rounds` times each.
  const raw: number[] = [], one: number[] = [], batched: number[] = [];
  for (let r = 0; r < rounds + 1; r++) {
    let wait = next(BENCH_SPSC);
    core.b_spsc(producer, consumer, MSGS);
    const [s] = await wait;
    wait = next(BENCH_MSGS);
    core.b_msgs(producer, consumer, MSGS, 1);
    const [m1] = await wait;
    wait = next(BENCH_MSGS);
    core.b_msgs(producer, consumer, MSGS, 32);
    const [m32] = await wait;
    if (r === 0) continue;                // the first round warms V8's tiers up
    raw.push(s.c / s.b);                  // items per microsecond = M msg/s
    one.push(m1.c / m1.b);
    batched.push(m32.c / m32.b);
    log(`  round ${r}: raw SPSC ${raw.at(-1)!.toFixed(1)} M/s, send_msg ${one.at(-1)!.toFixed(1)} M/s, batched ${batched.at(-1)!.toFixed(1)} M/s`);
  }

  // Round trips: target busy-polling (never sleeps), then sleeping between pings.
  const rtt = async (count: number, gapUs: number) => {
    const wait = next(BENCH_PINGPONG);
    core.b_pingpong(producer, consumer, count, gapUs);
    const [e] = await wait;
    return Array.from(new Float64Array(engine.memory.buffer, e.b, e.c));
  };
  engine.core.reactor_set_idle_policy(0, 60_000_000, 0);
  engine.core.reactor_set_idle_policy(1, 60_000_000, 0);
  await rtt(2000, 0);
  const busy = await rtt(50_000, 0);
  engine.core.reactor_set_idle_policy(0, 100, 0);
  engine.core.reactor_set_idle_policy(1, 100, 0);
  const asleep = await rtt(400, 2000);

  // Allocator: alloc/free pairs of 64 bytes on one reactor, then on both at once.
  const PAIRS = 10_000_000;
  const alloc1: number[] = [], alloc2: number[] = [];
  for (let r = 0; r < rounds + 1; r++) {
    let wait = next(BENCH_ALLOC);
    core.b_alloc(producer, PAIRS, 64);
    const [a] = await wait;
    wait = next(BENCH_ALLOC, 2);
    core.b_alloc(producer, PAIRS, 64);
    core.b_alloc(consumer, PAIRS, 64);
    const both = await wait;
    if (r === 0) continue;
    alloc1.push(PAIRS / a.b);
    alloc2.push(both.reduce((sum, e) => sum + PAIRS / e.b, 0));
  }
  await engine.stop();

  // Idle: a fresh engine with 2 reactors, 1 s to settle, then CPU over 3 s.
  const idleEngine = await Engine.start({ reactors: 2, memoryBytes: 64 << 20 });
  await new Promise((r) => setTimeout(r, 1000));
  const before = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 3000));
  const used = process.cpuUsage(before);
  const idlePercent = ((used.user + used.system) / 1000) / (performance.now() - t0) * 100;
  await idleEngine.stop();

  const result = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    rounds,
    throughput_Mmsg_s: { raw_spsc: median(raw), send_msg: median(one), send_msgs_batch32: median(batched) },
    ratio_send_msg_to_raw: median(one.map((x, i) => x / raw[i])),
    rtt_us: {
      busy: { median: median(busy), p99: quantile(busy, 0.99), samples: busy.length },
      sleeping: { median: median(asleep), p99: quantile(asleep, 0.99), samples: asleep.length },
    },
    alloc_free_pairs_M_s: { one_reactor: median(alloc1), two_reactors: median(alloc2) },
    idle_cpu_percent_of_one_core: idlePercent,
  };
  if (asJson) { console.log(JSON.stringify(result, null, 2)); return; }
  const f = (x: number, d = 1) => x.toFixed(d);
  console.log(`\n${result.machine}, ${rounds} rounds, medians`);
  console.log(`raw SPSC ring, one at a time        ${f(result.throughput_Mmsg_s.raw_spsc)} M msg/s`);
  console.log(`send_msg, one at a time             ${f(result.throughput_Mmsg_s.send_msg)} M msg/s  (${f(result.ratio_send_msg_to_raw, 2)} x raw)`);
  console.log(`send_msgs, batches of 32            ${f(result.throughput_Mmsg_s.send_msgs_batch32)} M msg/s`);
  console.log(`round trip, target busy-polling     median ${f(result.rtt_us.busy.median, 2)} us, p99 ${f(result.rtt_us.busy.p99, 2)} us`);
  console.log(`round trip, target sleeping         median ${f(result.rtt_us.sleeping.median)} us, p99 ${f(result.rtt_us.sleeping.p99)} us`);
  console.log(`alloc/free pairs (64 B), 1 reactor  ${f(result.alloc_free_pairs_M_s.one_reactor)} M/s`);
  console.log(`alloc/free pairs (64 B), 2 reactors ${f(result.alloc_free_pairs_M_s.two_reactors)} M/s (sum)`);
  console.log(`idle engine, 2 reactors             ${f(idlePercent, 2)} % of one core`);
}

await main();
