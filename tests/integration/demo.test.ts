// `wstor demo` (npm start) end to end: the message-passing walk-through, then the Blobstore one on a
// RAM disk, and a clean stop, all within a few seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to build/tests/integration/; the CLI is build/host/cli.js.
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');

test('wstor demo exits 0 and walks through messages, then a blobstore, then stops cleanly', () => {
  const startedMs = performance.now();
  const r = spawnSync(process.execPath, [CLI, 'demo'], { encoding: 'utf8', timeout: 20_000 });
  const elapsedMs = performance.now() - startedMs;
  assert.equal(r.status, 0, `exit status (stderr: ${r.stderr})`);
  assert.equal(r.stderr, '', 'nothing on stderr');
  const out = r.stdout;
  assert.match(out, /^5 round trips in \d+ us/m, 'the message-passing part is still there');
  assert.match(out, /initialised a blobstore on Malloc0: 1 MiB clusters/);
  assert.match(out, /created blob 0x100000000: thick, 4 MiB/);
  assert.match(out, /created blob 0x100000001: thin, 8 MiB, xattr name=demo-thin/);
  assert.match(out, /^ +blob 0x100000000 \(thick\): matched$/m);
  assert.match(out, /^ +blob 0x100000001 \(thin\): matched$/m);
  assert.match(out, /store\.list\(\):/);
  assert.match(out, /^ +0x100000000 +4 MiB +no +4 MiB$/m, 'the thick blob: all its clusters');
  assert.match(out, /^ +0x100000001 +8 MiB +yes +2 MiB$/m, 'the thin blob: only what was written');
  assert.match(out, /resized blob 0x100000001 to 16 MiB: still 2 MiB allocated/);
  assert.match(out, /xattr name of blob 0x100000001 reads back "demo-thin"/);
  assert.match(out, /unloaded the store/);
  assert.match(out, /deleted Malloc0/);
  assert.match(out, /engine stopped cleanly\n$/);
  assert.match(out, /snapshot of blob 0x100000000: 0x100000002/);
  assert.match(out, /^ +blob +0x100000000: matched \(1 MiB allocated\)$/m, 'the origin: its new block, one cluster of its own');
  assert.match(out, /^ +snapshot 0x100000002: matched \(4 MiB allocated\)$/m, 'the snapshot: the old data, all the clusters');
  assert.match(out, /^ +clone +0x100000003: matched \(0 B allocated\)$/m, 'the clone: reads through the snapshot');
  assert.ok(elapsedMs < 5000, `finished in ${elapsedMs.toFixed(0)} ms`);
});
