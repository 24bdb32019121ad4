// The RPC server's bounds and its listening: oversized requests, calls in flight per connection, idle and
// stuck clients, the connection limit, socket files (mode, stale, live, not a socket), loopback-only TCP,
// close() with calls running, and the client's own errors (no server, timeout).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { INVALID_REQUEST, RpcClient, RpcServer, isLoopback, RPC_CONNECTIONS_MAX, RPC_IN_FLIGHT_MAX, RPC_IDLE_TIMEOUT_MS } from '../../host/rpc/index.js';
import { WstorError } from '../../host/errors.js';
import { FakeDispatcher, RawClient, request, startServer, tempDir, until } from '../helpers/rpc.js';

const dir = tempDir('wstor-rpc-limits-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let serial = 0;
const sockName = () => `s${++serial}.sock`;

test('the default bounds are the documented ones', () => {
  assert.equal(RPC_CONNECTIONS_MAX, 1024);
  assert.equal(RPC_IN_FLIGHT_MAX, 64);
  assert.equal(RPC_IDLE_TIMEOUT_MS, 5 * 60_000);
  assert.throws(() => new RpcServer(new FakeDispatcher(), { maxConnections: 0 }), /maxConnections must be a whole number of at least 1/);
});

test('a request over the size limit is an invalid request naming the limit, then the connection closes', async () => {
  const { server, socketPath } = await startServer(dir, { maxRequestBytes: 1024 }, sockName());
  const raw = await RawClient.connect(socketPath);
  raw.send(request('echo', 1, { pad: 'x'.repeat(2000) }));
  const [answer] = (await raw.take(1)) as { id: null; error: { code: number; message: string } }[];
  assert.equal(answer.id, null);
  assert.equal(answer.error.code, INVALID_REQUEST);
  assert.match(answer.error.message, /larger than the limit of 1024 bytes/);
  await raw.closed;
  const client = await RpcClient.connect({ socket: socketPath });
  assert.deepEqual(await client.call('echo', { pad: 'y'.repeat(900) }), { pad: 'y'.repeat(900) }, 'under the limit is fine');
  client.close();
  await server.close();
});

test('at most maxInFlightPerConnection calls run per connection; the rest wait unread, then all answer', async () => {
  const { server, dispatcher, socketPath } = await startServer(dir, { maxInFlightPerConnection: 4 }, sockName());
  const raw = await RawClient.connect(socketPath);
  raw.send(Array.from({ length: 10 }, (_, i) => JSON.stringify(request('gate', i))).join(''));
  const gates = await dispatcher.gated(4);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(dispatcher.gates.length, 4, 'no fifth call started while four run');
  gates[0].release();
  await dispatcher.gated(5);
  assert.equal(dispatcher.runningMax, 4);
  for (let i = 1; i < 10; i++) (await dispatcher.gated(i + 1))[i].release();
  const ids = ((await raw.take(10)) as { id: number }[]).map((a) => a.id).sort((a, b) => a - b);
  assert.deepEqual(ids, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(dispatcher.runningMax, 4);
  raw.socket.destroy();
  await server.close();
});

test('an idle connection, or one with half a request, is closed after idleTimeoutMs; a long call is not', async () => {
  const { server, logs, socketPath } = await startServer(dir, { idleTimeoutMs: 200 }, sockName());
  const idle = await RawClient.connect(socketPath);
  const half = await RawClient.connect(socketPath);
  half.send('{"jsonrpc":"2.0","method":"echo"');
  const busy = await RawClient.connect(socketPath);
  busy.send(request('sleep', 1, { ms: 500 }));
  const started = Date.now();
  await Promise.all([idle.closed, half.closed]);
  assert.ok(Date.now() - started >= 150, 'not before the timeout');
  assert.deepEqual(await busy.take(1), [{ jsonrpc: '2.0', id: 1, result: 500 }], 'a call longer than the timeout still answers');
  await busy.closed; // and then, idle, it is closed too
  assert.ok(logs.some((l) => /no complete request for 200 ms/.test(l.message)));
  await server.close();
});

test('a client that never reads its answers stops being read from, and does not hold up another client', async () => {
  const { server, dispatcher, logs, socketPath } = await startServer(dir, { idleTimeoutMs: 1000 }, sockName());
  const stuck = await RawClient.connect(socketPath);
  stuck.socket.pause(); // reads nothing: the kernel buffers fill, then the server's
  const burst = 2000;
  for (let i = 0; i < burst; i++) stuck.send(request('bytes', i, { count: 256 << 10 }));
  await until(() => dispatcher.calls.length > 0, 'the stuck client\'s first calls');
  await new Promise((r) => setTimeout(r, 200));
  const handled = dispatcher.calls.length;
  assert.ok(handled < burst / 2, `the server stopped taking its requests (${handled} of ${burst} taken)`);
  const other = await RpcClient.connect({ socket: socketPath });
  const started = Date.now();
  for (let i = 0; i < 20; i++) assert.deepEqual(await other.call('echo', [i]), [i]);
  assert.ok(Date.now() - started < 1000, 'the other client was served promptly');
  other.close();
  // The idle clock runs while its answers sit unread. (A paused socket does not see the close; the log does.)
  await until(() => logs.some((l) => /read none of its responses for 1000 ms/.test(l.message)), 'the stuck client to be closed');
  await until(() => server.stats.connectionsOpen === 0, 'the stuck connection to go');
  stuck.socket.destroy();
  await server.close();
});

test('unread output over maxOutputBytes closes that connection at once', async () => {
  const { server, logs, socketPath } = await startServer(dir, { maxOutputBytes: 1 << 20 }, sockName());
  const stuck = await RawClient.connect(socketPath);
  stuck.socket.pause();
  for (let i = 0; i < 64; i++) stuck.send(request('bytes', i, { count: 512 << 10 }));
  await until(() => logs.some((l) => /more than 1048576 bytes of responses unread/.test(l.message)), 'the stuck client to be closed');
  await until(() => server.stats.connectionsOpen === 0, 'the stuck connection to go');
  stuck.socket.destroy();
  await server.close();
});

test('connections that never read, sending batches, hold at most maxOutputBytes each; the server stays bounded', async () => {
  const max = 1 << 20;
  const { server, dispatcher, logs, socketPath } = await startServer(dir, { maxOutputBytes: max, idleTimeoutMs: 1500 }, sockName());
  const stuck = await Promise.all(Array.from({ length: 8 }, () => RawClient.connect(socketPath)));
  const batch = JSON.stringify(Array.from({ length: 64 }, (_, i) => request('bytes', i, { count: 64 << 10 })));
  for (const c of stuck) { c.socket.pause(); for (let b = 0; b < 4; b++) c.send(batch); }
  await until(() => dispatcher.calls.length >= 8 * 64, 'a batch from each client to run');
  await new Promise((r) => setTimeout(r, 300));
  const { queuedBytes, queuedBytesPeak } = server.stats;
  assert.ok(queuedBytesPeak > max / 2, `the clients did fill their queues (${queuedBytesPeak} bytes at most)`);
  assert.ok(queuedBytesPeak <= max, `no connection held more than ${max} bytes (the most: ${queuedBytesPeak})`);
  assert.ok(queuedBytes <= 8 * max, `the server holds at most ${8 * max} bytes for them (${queuedBytes})`);
  assert.ok(dispatcher.calls.length < 8 * 4 * 64, 'their later batches are not read while they do not read');
  await until(() => logs.filter((l) => /read none of its responses for 1500 ms/.test(l.message)).length === 8, 'the idle clock to close them', 10_000);
  await until(() => server.stats.connectionsOpen === 0, 'the stuck connections to go');
  assert.equal(server.stats.queuedBytes, 0);
  for (const c of stuck) c.socket.destroy();
  await server.close();
});

test('a batch whose answers pass maxOutputBytes is answered in full up to it, the rest as errors naming the limit', async () => {
  const max = 1 << 20;
  const { server, socketPath } = await startServer(dir, { maxOutputBytes: max }, sockName());
  const raw = await RawClient.connect(socketPath);
  raw.send(Array.from({ length: 64 }, (_, i) => request('bytes', i, { count: 64 << 10 })));
  const [answers] = (await raw.take(1)) as { id: number; result?: string; error?: { code: number; message: string } }[][];
  assert.equal(answers.length, 64);
  const full = answers.filter((a) => a.result !== undefined);
  const refused = answers.filter((a) => a.error !== undefined);
  assert.ok(full.length >= 10 && full.length < 16, `as many full answers as fit (${full.length})`);
  assert.ok(full.every((a) => a.result!.length === 64 << 10));
  assert.equal(full.length + refused.length, 64);
  for (const a of refused) {
    assert.equal(a.error!.code, -90);
    assert.match(a.error!.message, /would pass its limit of 1048576 bytes: read the answers before sending more, or put fewer requests in a batch/);
  }
  assert.ok(JSON.stringify(answers).length <= max, 'the whole batch answer is within the limit');
  assert.ok(server.stats.queuedBytesPeak <= max);
  // One answer larger than the limit can never be sent: an error answer naming the limit, and the connection lives.
  assert.deepEqual(await raw.call('bytes', { count: 2 << 20 }, 'big'), { jsonrpc: '2.0', id: 'big', error: { code: -90,
    message: `the answer to bytes is larger than ${max} bytes, the most one answer may be: ask for less (bdev_get_bdevs takes a name, for one bdev)` } });
  const listed = (await raw.call('list', { count: 100_000, pad: 20 }, 'list')) as { error: { code: number } };
  assert.equal(listed.error.code, -90, 'a long array result is stopped as it is produced');
  assert.deepEqual(await raw.call('echo', ['after']), { jsonrpc: '2.0', id: 1, result: ['after'] });
  raw.socket.destroy();
  await server.close();
});

test('any error while answering is an error answer, even in a batch larger than V8\'s longest string; the process lives', async () => {
  const { server, socketPath } = await startServer(dir, {}, sockName());
  const raw = await RawClient.connect(socketPath);
  // 64 answers of 8.6 MB: joined they pass 2^29 characters, which once threw out of the connection and ended the process.
  raw.send([...Array.from({ length: 63 }, (_, i) => request('bytes', i, { count: 8_600_000 })), request('bad_json', 'bad')]);
  const [answers] = (await raw.take(1, 30_000)) as { id: number | string; result?: string; error?: { code: number; message: string } }[][];
  assert.equal(answers.length, 64);
  assert.ok(answers.filter((a) => a.result !== undefined).length <= 8, 'no more than 64 MiB of it');
  assert.deepEqual(answers.find((a) => a.id === 'bad')?.error,
    { code: -32603, message: 'the result could not be written as JSON: this value has no JSON form' });
  assert.ok(answers.filter((a) => a.error?.code === -90).length >= 55);
  assert.deepEqual(await raw.call('echo', ['alive']), { jsonrpc: '2.0', id: 1, result: ['alive'] });
  raw.socket.destroy();
  await server.close();
});

test('past maxConnections a client is told why (code -16) and closed; the others carry on', async () => {
  const { server, socketPath } = await startServer(dir, { maxConnections: 2 }, sockName());
  const first = await RpcClient.connect({ socket: socketPath });
  const second = await RpcClient.connect({ socket: socketPath });
  await first.call('echo', [1]);
  await second.call('echo', [2]);
  const third = await RawClient.connect(socketPath);
  const [answer] = (await third.take(1)) as { id: null; error: { code: number; message: string } }[];
  assert.deepEqual(answer.error.code, -16);
  assert.match(answer.error.message, /2 RPC connections open, its limit/);
  await third.closed;
  assert.equal(server.stats.connectionsRefused, 1);
  assert.deepEqual(await first.call('echo', ['still']), ['still']);
  first.close();
  second.close();
  await server.close();
});

test('the unix socket is made with mode 0600 (or the one asked for) and removed by close()', async () => {
  const { server, socketPath } = await startServer(dir, {}, sockName());
  assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600);
  assert.equal(server.socketPath, socketPath);
  await server.close();
  assert.equal(fs.existsSync(socketPath), false);
  const wide = new RpcServer(new FakeDispatcher(), { log: () => {} });
  await wide.listenUnix(socketPath, { mode: 0o660 });
  assert.equal(fs.statSync(socketPath).mode & 0o777, 0o660);
  await wide.close();
});

test('a stale socket file is replaced; a live server, or a file that is no socket, is refused', async () => {
  const stale = path.join(dir, sockName());
  // A process that dies while listening leaves its socket file behind.
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`]);
  assert.ok(fs.statSync(stale).isSocket(), 'the stale file is there');
  const taker = new RpcServer(new FakeDispatcher(), { log: () => {} });
  await taker.listenUnix(stale);
  const client = await RpcClient.connect({ socket: stale });
  assert.deepEqual(await client.call('echo', [1]), [1]);
  client.close();

  const rival = new RpcServer(new FakeDispatcher(), { log: () => {} });
  await assert.rejects(rival.listenUnix(stale), /another server is listening on .*: stop it or pick another RPC socket path/);
  assert.ok(fs.existsSync(stale), 'the live server\'s socket was left alone');
  await taker.close();

  const plain = path.join(dir, 'plain-file');
  fs.writeFileSync(plain, 'data');
  await assert.rejects(rival.listenUnix(plain), /exists and is not a socket/);
  assert.equal(fs.readFileSync(plain, 'utf8'), 'data');
  await assert.rejects(rival.listenUnix(path.join(dir, 'no-such-dir', 'x.sock')), /cannot listen for RPC on/);
});

test('a unix socket path longer than 107 bytes, or in no directory, is refused before anything is bound', async () => {
  const sub = fs.mkdtempSync(path.join(dir, 'len-'));
  const server = new RpcServer(new FakeDispatcher(), { log: () => {} });
  const at = (bytes: number) => path.join(sub, 'x'.repeat(bytes - sub.length - 1));
  await assert.rejects(server.listenUnix(at(108)), (err: WstorError) => err.code === 'ENAMETOOLONG' &&
    /is 108 bytes; a unix socket path is at most 107 bytes: pick a shorter path/.test(err.message));
  assert.deepEqual(fs.readdirSync(sub), [], 'nothing bound under a cut-short name');
  await assert.rejects(server.listenUnix(path.join(sub, 'gone', 'x.sock')), (err: WstorError) => err.code === 'ENOENT' &&
    err.message.includes(`directory ${path.join(sub, 'gone')} does not exist`));
  fs.writeFileSync(path.join(sub, 'file'), '');
  await assert.rejects(server.listenUnix(path.join(sub, 'file', 'x.sock')), /file is not a directory/);
  await server.listenUnix(at(107));
  const client = await RpcClient.connect({ socket: at(107) });
  assert.deepEqual(await client.call('echo', [107]), [107], 'exactly 107 bytes works');
  client.close();
  await server.close();
});

test('TCP listens on loopback only, unless allowAny', async () => {
  for (const host of ['127.0.0.1', '127.3.4.5', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) assert.ok(isLoopback(host), host);
  for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', '']) assert.ok(!isLoopback(host), host);
  const server = new RpcServer(new FakeDispatcher(), { log: () => {} });
  await assert.rejects(server.listenTcp('0.0.0.0', 0), /refusing to listen for RPC on 0\.0\.0\.0: .*--rpc-listen-any/);
  await assert.rejects(server.listenTcp('127.0.0.1', 70000), /port must be 0 to 65535/);
  await server.listenTcp('0.0.0.0', 0, { allowAny: true });
  const port = server.tcpAddress?.port ?? 0;
  const client = await RpcClient.connect({ host: '127.0.0.1', port });
  assert.deepEqual(await client.call('echo', ['any']), ['any']);
  client.close();
  await assert.rejects(server.listenTcp('127.0.0.1', 0), /already listens on TCP/);
  const busy = new RpcServer(new FakeDispatcher(), { log: () => {} });
  await assert.rejects(busy.listenTcp('0.0.0.0', port, { allowAny: true }), /cannot listen for RPC on 0\.0\.0\.0:\d+: .*something else is using it/);
  await server.close();
});

test('close() lets running calls answer, refuses new connections, and drops calls that outlast the grace', async () => {
  const { server, dispatcher, socketPath } = await startServer(dir, { closeGraceMs: 300 }, sockName());
  const raw = await RawClient.connect(socketPath);
  raw.send(request('gate', 1));
  const [gate] = await dispatcher.gated(1);
  let closed = false;
  const closing = server.close().then(() => { closed = true; });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(closed, false, 'close() waits for the running call');
  await assert.rejects(RpcClient.connect({ socket: socketPath }), /no wstor server at/);
  gate.release('done');
  assert.deepEqual(await raw.take(1), [{ jsonrpc: '2.0', id: 1, result: 'done' }]);
  await closing;
  await raw.closed;

  const again = await startServer(dir, { closeGraceMs: 200 }, sockName());
  const hung = await RawClient.connect(again.socketPath);
  hung.send(request('gate', 2));
  await again.dispatcher.gated(1);
  const started = Date.now();
  await again.server.close();
  assert.ok(Date.now() - started >= 150, 'waited about the grace');
  await hung.closed;
  assert.deepEqual(hung.values, [], 'the hung call was never answered');
  await assert.rejects(again.server.listenUnix(again.socketPath), /was stopped/);
});

test('the client: no server, a refused stale socket, a timeout, and a server that goes away mid-call', async () => {
  const missing = path.join(dir, 'missing.sock');
  await assert.rejects(RpcClient.connect({ socket: missing }),
    new RegExp(`no wstor server at ${missing} \\(is \`wstor serve\` running\\? use -s to pick the socket\\)`));
  const stale = path.join(dir, sockName());
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`]);
  await assert.rejects(RpcClient.connect({ socket: stale }), /no wstor server at/);
  await assert.rejects(RpcClient.connect({ host: '127.0.0.1', port: 1 }), /no wstor server at 127\.0\.0\.1:1/);

  const { server, dispatcher, socketPath } = await startServer(dir, { closeGraceMs: 100 }, sockName());
  const client = await RpcClient.connect({ socket: socketPath }, { timeoutMs: 100 });
  await assert.rejects(client.call('sleep', { ms: 300 }), /sleep: no answer from the wstor server at .* within 100 ms/);
  assert.deepEqual(await client.call('echo', ['later']), ['later'], 'a late answer to a timed-out call is ignored');
  client.close();
  const patient = await RpcClient.connect({ socket: socketPath });
  const waiting = assert.rejects(patient.call('gate'), /the wstor server at .* closed the connection/);
  await dispatcher.gated(1);
  await server.close();
  await waiting;
  patient.close();
});
