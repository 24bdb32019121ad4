// The Linux kernel's NVMe/TCP initiator (the harness guest, run-guest.sh -n PORT) on wstor's NVMe/TCP
// target run as `wstor serve` with an SPDK-format config: discovery, a host refused, an ext file system
// written, reconnected and verified, fio verify on 2 queues, flush, discard (nvmf-fs.sh); a namespace
// hot-added and another resized reaching the host through asynchronous events (nvmf-aer.sh); and
// `wstor serve` killed under verified writes and started again with the host reconnecting on its own
// (nvmf-reconnect.sh). Runs when WSTOR_GUEST names a built guest; elsewhere it says why it is skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { skipIfMissing } from '../helpers/skip.js';
import { ROOT, guestSkipReason, runHarnessGuest, type GuestRun } from '../helpers/guest-harness.js';

const SCRIPTS = path.join(ROOT, 'tests', 'guest');
const MiB = 1 << 20;
const NQN = 'nqn.2026-12.io.wstor:e2e';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:6f1c2a4e-1d2b-4c3d-8e4f-5a6b7c8d9e0f';
const DISCOVERY = 'nqn.2014-08.org.nvmexpress.discovery';
const skipReason = guestSkipReason;

type Call = { method: string; params?: Record<string, unknown> };

/** SPDK's JSON config: `bdevs` calls, then a TCP transport and subsystem NQN listening on 127.0.0.1:port with `ns` bdevs. */
function config(port: number, bdevs: Call[], ns: string[]): unknown {
  const listen = { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(port) };
  return {
    subsystems: [
      { subsystem: 'bdev', config: bdevs },
      {
        subsystem: 'nvmf', config: [
          { method: 'nvmf_create_transport', params: { trtype: 'TCP' } },
          { method: 'nvmf_create_subsystem', params: { nqn: NQN, serial_number: 'WSTOR00000000000001', allow_any_host: false } },
          { method: 'nvmf_subsystem_add_host', params: { nqn: NQN, host: HOSTNQN } },
          ...ns.map((bdev) => ({ method: 'nvmf_subsystem_add_ns', params: { nqn: NQN, namespace: { bdev_name: bdev } } })),
          { method: 'nvmf_subsystem_add_listener', params: { nqn: NQN, listen_address: listen } },
          { method: 'nvmf_subsystem_add_listener', params: { nqn: DISCOVERY, listen_address: listen } },
        ],
      },
    ],
  };
}

/** One JSON-RPC call on the unix socket `sock`. */
function rpc(sock: string, method: string, params?: Record<string, unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    let buf = '';
    s.on('connect', () => s.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method, ...(params ? { params } : {}) })));
    s.on('data', (d) => {
      buf += d;
      let msg: { result?: unknown; error?: { message: string } };
      try { msg = JSON.parse(buf); } catch { return; }
      s.destroy();
      if (msg.error) reject(new Error(`${method}: ${msg.error.message}`)); else resolve(msg.result);
    });
    s.on('error', reject);
  });
}

interface Serve { child: ChildProcess; sock: string; log: () => string }

/** `wstor serve` on `cfg`, up once its RPC socket answers and the listener is in nvmf_get_subsystems. */
async function serve(dir: string, cfg: unknown): Promise<Serve> {
  const file = path.join(dir, 'config.json');
  const sock = path.join(dir, 'rpc.sock');
  fs.writeFileSync(file, JSON.stringify(cfg));
  fs.rmSync(sock, { force: true });
  let log = '';
  const child = spawn(process.execPath, [path.join(ROOT, 'build', 'host', 'cli.js'), 'serve', '--config', file, '-r', sock, '--mem', '1GiB', '-m', '0x3'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => { log += d; });
  child.stderr!.on('data', (d) => { log += d; });
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    const subs = await rpc(sock, 'nvmf_get_subsystems').catch(() => null) as { nqn: string; listen_addresses: unknown[] }[] | null;
    if (subs?.some((s) => s.nqn === NQN && s.listen_addresses.length > 0)) return { child, sock, log: () => log };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`wstor serve did not come up:\n${log}`);
}

async function stop(s: Serve, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise((res) => s.child.once('exit', res));
  s.child.kill(signal);
  await exited;
}

/** Boot the guest with networking to 127.0.0.1:port, running `script` (tests/guest carried in at /host). */
function runGuest(port: number, script: string, onLine?: (line: string) => void): Promise<GuestRun> {
  return runHarnessGuest(['-n', String(port), '-m', '512', '-t', '300', '-s', SCRIPTS, path.join(SCRIPTS, script), `NQN=${NQN}`, `HOSTNQN=${HOSTNQN}`], onLine);
}

function sparseFile(dir: string, name: string, mib: number): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, mib * MiB);
  return file;
}

const aio = (name: string, filename: string): Call => ({ method: 'bdev_aio_create', params: { name, filename } });

test('Linux\'s NVMe/TCP initiator: discovery, an unknown host refused, ext4 written, reconnected and verified, fio verify on 2 queues, flush, discard', async (t) => {
  if (skipIfMissing(t, skipReason() !== null, skipReason() ?? '')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-nvmf-e2e-'));
  const port = 14491;
  const s = await serve(dir, config(port, [aio('disk1', sparseFile(dir, 'a.img', 256)), aio('disk2', sparseFile(dir, 'b.img', 128))], ['disk1', 'disk2']));
  try {
    const r = await runGuest(port, 'nvmf-fs.sh');
    const both = `${r.out}\n--- wstor serve ---\n${s.log()}`;
    assert.equal(r.code, 0, both);
    for (const mark of ['DISCOVER_OK', 'HOST_REFUSED', 'FS_WRITTEN', 'FS_VERIFIED', 'FIO_VERIFY_OK 2 jobs', 'FIO_LARGE_OK', 'FLUSH_OK', 'DISCARD_OK', 'NVMF_FS_DONE']) {
      assert.ok(r.out.includes(mark), `${mark}\n${both}`);
    }
    assert.match(r.out, /connected: nvme\d+ queues=2 /, both);
  } finally {
    await stop(s);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a namespace hot-added and another resized reach the connected host through asynchronous events', async (t) => {
  if (skipIfMissing(t, skipReason() !== null, skipReason() ?? '')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-nvmf-e2e-'));
  const port = 14493;
  const s = await serve(dir, config(port, [{ method: 'bdev_null_create', params: { name: 'null0', num_blocks: 16384, block_size: 4096 } }], ['null0']));
  try {
    let acted: Promise<void> | null = null;
    const r = await runGuest(port, 'nvmf-aer.sh', (line) => {
      if (!line.includes('AER_READY') || acted) return;
      acted = (async () => {
        await rpc(s.sock, 'bdev_malloc_create', { name: 'm2', num_blocks: 8192, block_size: 4096 });
        await rpc(s.sock, 'nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'm2', nsid: 2 } });
        await rpc(s.sock, 'bdev_null_resize', { name: 'null0', new_size: 128 });
      })();
    });
    assert.ok(acted, `the guest connected (${r.out})`);
    await acted;
    const both = `${r.out}\n--- wstor serve ---\n${s.log()}`;
    assert.equal(r.code, 0, both);
    for (const mark of ['AER_NS_ADDED', 'AER_RESIZED size=262144', 'AER_DONE']) assert.ok(r.out.includes(mark), `${mark}\n${both}`);
  } finally {
    await stop(s);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('wstor serve killed under the host\'s verified writes and started again: the host reconnects on its own, no write is lost', async (t) => {
  if (skipIfMissing(t, skipReason() !== null, skipReason() ?? '')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-nvmf-e2e-'));
  const port = 14495;
  const cfg = config(port, [aio('disk1', sparseFile(dir, 'a.img', 128))], ['disk1']);
  let s = await serve(dir, cfg);
  try {
    let restart: Promise<string> | null = null;
    let restartedAt = Infinity, fioDoneAt = 0;
    const r = await runGuest(port, 'nvmf-reconnect.sh', (line) => {
      if (line.includes('RECONNECT_FIO_OK')) fioDoneAt = performance.now();
      if (!line.includes('RECONNECT_GO') || restart) return;
      restart = (async () => {
        await new Promise((res) => setTimeout(res, 2000));          // the writes are under way
        await stop(s, 'SIGKILL');
        const t0 = performance.now();
        s = await serve(dir, cfg);
        restartedAt = performance.now();
        return `restarted in ${(restartedAt - t0).toFixed(0)} ms`;
      })();
    });
    assert.ok(restart, `the guest started its writes (${r.out})`);
    const note = await restart!;
    assert.equal(r.code, 0, `${note}\n${r.out}\n--- wstor serve ---\n${s.log()}`);
    assert.match(r.out, /RECONNECT_FIO_OK 2 jobs/, note);
    assert.ok(restartedAt < fioDoneAt, `wstor was killed and back while the host's writes ran (${note})`);
  } finally {
    await stop(s);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
