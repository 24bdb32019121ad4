// A flush of an lvol bdev makes its thin clusters durable: a child process writes through a thin lvol
// on a crash bdev over a file, flushes the lvol, writes more, cuts the power (unflushed writes
// dropped) and dies without unloading. A new process loads the lvstore (recovery) and finds every
// cluster the flush covered, with the data verify reads expect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../host/index.js';
import { runPerf } from '../helpers/perf-run.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const index = path.resolve(here, '..', '..', 'host', 'index.js');
const perfRun = path.resolve(here, '..', 'helpers', 'perf-run.js');
const MiB = 1 << 20;

test('clusters a thin lvol took before a flush survive a power cut; the store recovers', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-lvol-cut-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 64 * MiB);
  try {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', `
      import { Engine } from ${JSON.stringify(index)};
      import { runPerf } from ${JSON.stringify(perfRun)};
      const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'error' });
      void engine.lvol;
      engine.bdev.createFile('f0', { path: ${JSON.stringify(file)} });
      await engine.bdev.waitForExamine();
      await engine.bdev.createCrash('c0', 'f0');
      await engine.bdev.waitForExamine();
      await engine.lvol.createLvstore('c0', 'cut', { clusterSize: 1 << 20 });
      await engine.lvol.create({ name: 'cut' }, 'thin', 32 << 20, { thin: true });
      await runPerf(engine, 'cut/thin', { workload: 'randwrite', seconds: 1, queueDepth: 8, ioBytes: 65536 });
      await engine.bdev.flush('cut/thin');
      const flushed = engine.lvol.list()[0].allocatedBytes;
      await runPerf(engine, 'cut/thin', { workload: 'randwrite', seconds: 1, queueDepth: 8, ioBytes: 4096 });
      const cut = await engine.bdev.crashCut('c0', 'drop');
      process.stdout.write(JSON.stringify({ flushed, cut }));
      process.exit(0);                          // power off: nothing is unloaded
    `], { encoding: 'utf8', timeout: 60_000 });
    const { flushed, cut } = JSON.parse(out) as { flushed: number; cut: { dropped: number } };
    assert.ok(flushed >= 8 * MiB, `the writes took clusters before the flush (${flushed / MiB} MiB)`);
    assert.ok(cut.dropped > 0, 'writes after the flush were lost to the cut');

    const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
    try {
      void engine.lvol;
      engine.bdev.createFile('f0', { path: file });
      await engine.bdev.waitForExamine();
      const [lvol] = engine.lvol.list();
      assert.equal(lvol?.alias, 'cut/thin', 'recovery found the lvol');
      assert.ok(lvol.allocatedBytes >= flushed, `every cluster the flush covered is there (${lvol.allocatedBytes / MiB} of ${flushed / MiB} MiB)`);
      const r = await runPerf(engine, 'cut/thin', { seconds: 1, queueDepth: 4 });
      assert.equal(r.errors + r.mismatches, 0, `the recovered lvol serves verified I/O (${JSON.stringify(r)})`);
    } finally {
      await engine.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
