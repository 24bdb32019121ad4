// The TypeScript NVMe/TCP helpers against a real target: Linux's nvmet-tcp in the harness guest
// (tests/guest/nvmet-serve.sh, reached through run-guest.sh -f HOSTPORT:4420). Runs when WSTOR_GUEST
// names a built guest and QEMU is installed; elsewhere it says it is skipped and why (helpers/skip.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { skipIfMissing } from '../helpers/skip.js';
import { ROOT, HARNESS, GUEST, guestSkipReason } from '../helpers/guest-harness.js';
import { encodeIcReq, PduDecoder, HOST_RECEIVES, PDU, type Pdu } from '../helpers/nvme-tcp-pdu.js';

const HOST_PORT = 14480;                  // the host's 127.0.0.1 port forwarded to nvmet's 4420
const BOOT_ATTEMPTS = 120;                // one a second: TCG boots in 4-8 s, slower under load
const skipReason = guestSkipReason;

/** One ICReq on a fresh connection: the first PDU back, or null when nothing answered (not up yet). */
function icExchange(hdgst: boolean, ddgst: boolean): Promise<Pdu | null> {
  return new Promise((resolve) => {
    const s = net.connect(HOST_PORT, '127.0.0.1');
    const d = new PduDecoder({ accept: HOST_RECEIVES });
    const done = (p: Pdu | null) => { s.destroy(); resolve(p); };
    s.on('connect', () => s.write(encodeIcReq({ hdgst, ddgst, maxr2t: 0 })));
    s.on('data', (b) => { const p = d.push(b); if (p.length > 0) done(p[0]); });
    s.on('error', () => done(null));
    s.on('close', () => done(null));
    setTimeout(() => done(null), 2000);
  });
}

test('nvmet-tcp in the guest answers the helper\'s ICReq with an ICResp the decoder checks, digests on and off', async (t) => {
  if (skipIfMissing(t, skipReason() !== null, skipReason() ?? '')) return;
  const guest = spawn(path.join(HARNESS, 'run-guest.sh'), ['-g', GUEST!, '-n', String(HOST_PORT + 1), '-f', `${HOST_PORT}:4420`,
    '-m', '512', '-t', '180', path.join(ROOT, 'tests', 'guest', 'nvmet-serve.sh'), 'SECS=30'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  guest.stdout.on('data', (d) => { out += d; });
  guest.stderr.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((res) => guest.on('exit', res));
  try {
    let resp: Pdu | null = null;
    for (let i = 0; i < BOOT_ATTEMPTS && resp === null && guest.exitCode === null; i++) {
      if (out.includes('NVMET_READY')) resp = await icExchange(true, true);
      if (resp === null) await new Promise((r) => setTimeout(r, 1000));
    }
    assert.ok(resp, `nvmet answered an ICReq\n${out}`);
    assert.ok(resp.type === PDU.IC_RESP && resp.pfv === 0 && resp.hdgst && resp.ddgst, JSON.stringify(resp));
    assert.ok(resp.maxh2cdata >= 4096, `MAXH2CDATA ${resp.maxh2cdata}`);
    const plain = await icExchange(false, false);
    assert.ok(plain && plain.type === PDU.IC_RESP && !plain.hdgst && !plain.ddgst, JSON.stringify(plain));
  } finally {
    guest.kill('SIGTERM');
    await exited;
  }
});
