// Issue 20's figures: blob write and read rates through the promise API in Chromium (Debian's, driven
// by playwright-core in a persistent context) on an OPFS bdev and on a malloc bdev, beside the same
// workload (host/web/blob-rates.ts) in Node on a malloc bdev and on a file bdev, in the same run,
// rounds interleaved; medians.
// Usage: node build/bench/browser.js [--rounds N] [--blob-mib M] [--qd Q] [--reactors R] [--json]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../host/index.js';
import { measureBlobRates, type BlobRateOptions, type BlobRates } from '../host/web/blob-rates.js';
import { inBrowser, serveBuild, withUserDir, chromiumMissing, CHROMIUM_PATH } from '../tests/helpers/browser.js';
import type * as Page from './pages/browser-rates.js';

declare const wstorTest: typeof Page;

const args = process.argv.slice(2);
const arg = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const rounds = Number(arg('--rounds', '5'));
const blobBytes = Number(arg('--blob-mib', '32')) << 20;
const queueDepth = Number(arg('--qd', '16'));
const reactors = Number(arg('--reactors', '2'));
const IO_SIZES = [4096, 65536];
const MiB = 1 << 20;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

type Where = 'chromium opfs' | 'chromium malloc' | 'node malloc' | 'node file';

/** One Node round on a malloc bdev or a file bdev (a file in /var/tmp, on the VM's disk). */
async function nodeRound(kind: 'malloc' | 'file', o: BlobRateOptions): Promise<BlobRates> {
  const bdevBytes = o.blobBytes + 16 * MiB;
  const engine = await Engine.start({ reactors, memoryBytes: bdevBytes + 128 * MiB, logLevel: 'error' });
  const file = path.join('/var/tmp', `wstor-bench-${process.pid}.img`);
  try {
    if (kind === 'file') {
      fs.writeFileSync(file, '');
      fs.truncateSync(file, bdevBytes);
      engine.bdev.createFile('b0', { path: file });
    } else {
      engine.bdev.createMalloc('b0', { blockCount: bdevBytes / 4096 });
    }
    return await measureBlobRates(engine, 'b0', o);
  } finally {
    await engine.stop();
    fs.rmSync(file, { force: true });
  }
}

async function main(): Promise<void> {
  if (chromiumMissing()) throw new Error(`no browser at ${CHROMIUM_PATH}: apt-get install -y chromium`);
  const server = await serveBuild({ module: '/bench/pages/browser-rates.js' });
  const results = new Map<string, BlobRates[]>();
  const note = (where: Where, r: BlobRates) => {
    const key = `${where}|${r.ioBytes}`;
    results.set(key, [...(results.get(key) ?? []), r]);
    if (r.mismatches > 0) throw new Error(`${where}: ${r.mismatches} reads came back wrong`);
  };
  try {
    await withUserDir((userDir) => inBrowser(userDir, server.url, async ({ page }) => {
      for (let round = 0; round < rounds; round++) {
        for (const ioBytes of IO_SIZES) {
          const o = { ioBytes, blobBytes, queueDepth, reactors };
          note('chromium opfs', await page.evaluate((a) => wstorTest.round('opfs', a), o));
          note('chromium malloc', await page.evaluate((a) => wstorTest.round('malloc', a), o));
          note('node malloc', await nodeRound('malloc', o));
          note('node file', await nodeRound('file', o));
        }
        process.stderr.write(`round ${round + 1}/${rounds} done\n`);
      }
    }));
  } finally {
    await server.close();
  }
  const rows = [...results].map(([key, rs]) => {
    const [where, io] = key.split('|');
    return {
      where, ioBytes: Number(io),
      writeOpsPerSec: median(rs.map((r) => r.writeOpsPerSec)), writeMiBPerSec: median(rs.map((r) => r.writeMiBPerSec)),
      readOpsPerSec: median(rs.map((r) => r.readOpsPerSec)), readMiBPerSec: median(rs.map((r) => r.readMiBPerSec)),
    };
  });
  if (args.includes('--json')) { process.stdout.write(JSON.stringify({ rounds, blobBytes, queueDepth, reactors, cpus: os.cpus().length, rows }, null, 2) + '\n'); return; }
  process.stdout.write(`blob writes over a ${blobBytes / MiB} MiB blob, then as many random reads; ${queueDepth} in flight, ` +
    `${reactors} reactors; medians of ${rounds} rounds\n`);
  process.stdout.write('| where | I/O | write ops/s | write MiB/s | read ops/s | read MiB/s |\n|---|---|---|---|---|---|\n');
  for (const r of rows) {
    process.stdout.write(`| ${r.where} | ${r.ioBytes / 1024} KiB | ${r.writeOpsPerSec.toFixed(0)} | ${r.writeMiBPerSec.toFixed(1)} | ` +
      `${r.readOpsPerSec.toFixed(0)} | ${r.readMiBPerSec.toFixed(1)} |\n`);
  }
}

await main();
