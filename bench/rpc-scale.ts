// Issue 14's figures for many bdevs, through a real RPC server in this process (so the engine's memory can
// be read): for 1k, 4k and 12k 4 KiB malloc bdevs, the engine bytes each costs (examined, as under serve),
// the time of one bdev_get_bdevs round trip (median), and how long a spdk_get_version on another connection
// waits while one is answered; and for this build, a batch of 64 bdev_get_bdevs on a raw socket (what
// once ended the process): how many full answers, how many refused, and the process lives. `--compare DIR`
// runs a second build (a checkout with build/ in it, e.g. a worktree of an older commit) in turn with this
// one, so both sets of figures come from one run.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { JsonSplitter } from '../host/rpc/index.js';

const HERE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PAGE = 65536;

/** What one build offers the benchmark (loaded from its own build/ directory). */
interface Build {
  label: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  Engine: any; Target: any; MethodTable: any; RpcServer: any; RpcClient: any;
}

async function load(root: string, label: string): Promise<Build> {
  const mod = (p: string) => import(pathToFileURL(path.join(root, 'build', 'host', p)).href);
  const [host, target, methods, rpc] = await Promise.all([mod('index.js'), mod('serve/target.js'), mod('rpc/methods/index.js'), mod('rpc/index.js')]);
  return { label, Engine: host.Engine, Target: target.Target, MethodTable: methods.MethodTable, RpcServer: rpc.RpcServer, RpcClient: rpc.RpcClient };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface ScaleFigures {
  build: string; bdevs: number; bytesPerBdev: number; getBdevsMs: number; otherCallWaitMs: number;
  /** This build only: a batch of 64 bdev_get_bdevs, answered in full and refused (-EMSGSIZE), and how long it took. */
  batch64?: { full: number; refused: number; ms: number };
}

/** Send a batch of 64 bdev_get_bdevs on a plain socket and count what comes back (one JSON array). */
function batch64(socket: string): Promise<{ full: number; refused: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = net.connect(socket);
    const splitter = new JsonSplitter({ maxValueBytes: 128 << 20 });
    s.on('data', (d: Buffer) => {
      splitter.push(d);
      const answers = splitter.next() as { result?: unknown; error?: { code: number } }[] | undefined;
      if (answers === undefined) return;                          // not all of it yet
      s.destroy();
      resolve({ full: answers.filter((a) => a.result).length, refused: answers.filter((a) => a.error?.code === -90).length, ms: Math.round(performance.now() - t0) });
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error('the server closed the connection before the batch was answered')));
    s.write(JSON.stringify(Array.from({ length: 64 }, (_, id) => ({ jsonrpc: '2.0', id, method: 'bdev_get_bdevs' }))));
  });
}

async function measure(b: Build, count: number, calls: number, withBatch: boolean): Promise<ScaleFigures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-bench-scale-'));
  const engine = await b.Engine.start({ reactors: 2, memoryBytes: 2 ** 31, logLevel: 'error' });
  const target = new b.Target(engine);
  const table = new b.MethodTable(target);
  const server = new b.RpcServer({ call: (m: string, p: unknown) => table.call(m, p) }, { log: () => {} });
  const socket = path.join(dir, 'rpc.sock');
  await server.listenUnix(socket);
  const c = await b.RpcClient.connect({ socket });
  const other = await b.RpcClient.connect({ socket });
  try {
    const pages0 = engine.core.heap_pages_in_use();
    for (let i = 0; i < count; i++) await c.call('bdev_malloc_create', { name: `m${i}`, block_size: 4096, num_blocks: 1 });
    await c.call('bdev_wait_for_examine');
    await new Promise((r) => setTimeout(r, 500));               // the examine's channels are released by message
    const bytesPerBdev = ((engine.core.heap_pages_in_use() - pages0) * PAGE) / count;
    const ms: number[] = [];
    const waits: number[] = [];
    for (let i = 0; i < calls; i++) {
      const t0 = performance.now();
      const list = c.call('bdev_get_bdevs');
      // Another client's call, sent just after: how long does it wait behind the long answer?
      const t1 = performance.now();
      await other.call('spdk_get_version');
      waits.push(performance.now() - t1);
      const got = (await list) as unknown[];
      ms.push(performance.now() - t0);
      if (got.length !== count) throw new Error(`${b.label}: expected ${count} bdevs, got ${got.length}`);
    }
    const figures: ScaleFigures = { build: b.label, bdevs: count, bytesPerBdev: Math.round(bytesPerBdev), getBdevsMs: +median(ms).toFixed(1),
      otherCallWaitMs: +median(waits).toFixed(1) };
    if (withBatch) {
      figures.batch64 = await batch64(socket);
      if ((await c.call('bdev_get_bdevs') as unknown[]).length !== count) throw new Error('the server is not the same after the batch');
    }
    return figures;
  } finally {
    c.close();
    other.close();
    await server.close();
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Every count with every build, the builds in turn for each count. */
export async function scaleBench(counts: number[], calls: number, compare: string | undefined): Promise<ScaleFigures[]> {
  const builds = [await load(HERE_ROOT, 'this')];
  if (compare !== undefined) builds.push(await load(path.resolve(compare), path.basename(path.resolve(compare))));
  const out: ScaleFigures[] = [];
  for (const count of counts) {
    for (const b of builds) {
      const f = await measure(b, count, calls, b === builds[0]);
      console.error(JSON.stringify(f));
      out.push(f);
    }
  }
  return out;
}
