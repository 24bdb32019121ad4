// Issue 14, "a guest reaches beyond its own disk": a raw vhost-user client (tests/helpers/
// vhost-user-client.ts) acting as a hostile guest against a real engine. Each test here failed
// before its fix: a refused chain answered through a stale status address, messages of the wrong
// size that were silently dropped, a call fd nobody reads, sockets that followed the umask, and
// refusals that stopped being logged after the sixteenth on a reactor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../host/index.js';
import type { Report } from '../../host/index.js';
import { VhostUserClient, MSG, BLK } from '../helpers/vhost-user-client.js';

const MiB = 1 << 20;
const OK = 0;

interface Target { engine: Engine; dir: string; reports: Report[]; stop(): Promise<void> }

async function target(opts: { logLevel?: 'notice' | 'info' } = {}): Promise<Target> {
  const reports: Report[] = [];
  const engine = await Engine.start({ reactors: 2, memoryBytes: 512 << 20, logLevel: opts.logLevel ?? 'notice', onReport: (r) => reports.push(r) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-vhost-sec-'));
  engine.vhost.socketDir = dir;
  return {
    engine, dir, reports,
    async stop() { await engine.stop(); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

const le = VhostUserClient.le;

test('SET_FEATURES, SET_PROTOCOL_FEATURES and SET_STATUS of the wrong size close the connection, with or without need_reply', async () => {
  const t = await target();
  try {
    t.engine.bdev.createMalloc('m0', { blockCount: 1024 });
    await t.engine.vhost.createBlk('vb', 'm0');
    const SET_STATUS = 39;
    for (const request of [MSG.SET_FEATURES, MSG.SET_PROTOCOL_FEATURES, SET_STATUS]) {
      for (const size of [0, 4, 16]) {
        for (const needReply of [false, true]) {
          const c = await VhostUserClient.connect(path.join(t.dir, 'vb'));
          try {
            await c.setup();                      // REPLY_ACK negotiated: a reply could be asked for
            c.send(request, new Uint8Array(size), { needReply });
            assert.ok(await c.closedByPeer(), `message ${request} with ${size} payload bytes (need_reply ${needReply}) closes the connection`);
          } finally { c.close(); }
        }
      }
    }
    const wrongSize = t.reports.filter((r) => /a payload of the wrong size \(message (2|16|39)\)/.test(r.message));
    assert.equal(wrongSize.length, 18, 'each one is reported as a payload of the wrong size');
  } finally { await t.stop(); }
});
