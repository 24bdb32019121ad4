// The JSON-RPC server over real sockets: calls on unix and loopback TCP, concurrency on one connection and
// across 100 clients, batches and notifications, every error code, bad input that closes the connection,
// and SPDK's rpc.py framing from a python3 client. (Bounds and listening: rpc-server-limits.test.ts.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, RpcClient, RpcError, RpcServer,
} from '../../host/rpc/index.js';
import { FakeDispatcher, RawClient, request, startServer, tempDir, until, type LogLine } from '../helpers/rpc.js';
import fs from 'node:fs';
import { skipIfMissing } from '../helpers/skip.js';

const dir = tempDir('wstor-rpc-server-');
let server: RpcServer;
let dispatcher: FakeDispatcher;
let logs: LogLine[];
let socketPath: string;

before(async () => {
  ({ server, dispatcher, logs, socketPath } = await startServer(dir));
  await server.listenTcp('127.0.0.1', 0);
});
after(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const error = (id: unknown, code: number, message?: RegExp) => (value: unknown) => {
  const r = value as { jsonrpc: string; id: unknown; error?: { code: number; message: string }; result?: unknown };
  assert.equal(r.jsonrpc, '2.0');
  assert.equal(r.id, id);
  assert.ok(r.error, `an error response: ${JSON.stringify(value)}`);
  assert.equal(r.error.code, code, r.error.message);
  assert.ok(!('result' in r));
  if (message) assert.match(r.error.message, message);
};

test('one call over the unix socket and one over TCP, with the client', async () => {
  const unix = await RpcClient.connect({ socket: socketPath });
  assert.deepEqual(await unix.call('echo', { a: [1, 'two'], é: '漢字' }), { a: [1, 'two'], é: '漢字' });
  assert.equal(await unix.call('nothing'), null, 'a handler that returns nothing answers null');
  unix.close();
  const tcp = server.tcpAddress;
  assert.ok(tcp && tcp.host === '127.0.0.1' && tcp.port > 0);
  const overTcp = await RpcClient.connect({ host: tcp.host, port: tcp.port });
  assert.deepEqual(await overTcp.call('echo', [1, 2, 3]), [1, 2, 3]);
  overTcp.close();
  const last = dispatcher.calls.at(-1);
  assert.equal(last?.conn.transport, 'tcp');
  assert.match(last?.conn.remote ?? '', /^127\.0\.0\.1:\d+$/);
});

test('calls on one connection run at once and each answer is written as it completes', async () => {
  const raw = await RawClient.connect(socketPath);
  raw.send(JSON.stringify(request('sleep', 1, { ms: 150 })) + JSON.stringify(request('sleep', 2, { ms: 10 })) + JSON.stringify(request('echo', 3, ['now'])));
  const answers = (await raw.take(3)) as { id: number }[];
  assert.deepEqual(answers.map((a) => a.id), [3, 2, 1], 'fastest first');
  raw.socket.destroy();
  const client = await RpcClient.connect({ socket: socketPath });
  const started = Date.now();
  const results = await Promise.all([client.call('sleep', { ms: 250 }), client.call('sleep', { ms: 250 }), client.call('echo', ['x'])]);
  assert.deepEqual(results, [250, 250, ['x']]);
  assert.ok(Date.now() - started < 480, 'the two sleeps overlapped');
  client.close();
});

test('100 clients at once, each with its own answers', async () => {
  const before = server.stats.connectionsAccepted;
  const clients = await Promise.all(Array.from({ length: 100 }, () => RpcClient.connect({ socket: socketPath })));
  const results = await Promise.all(clients.map((c, i) => Promise.all([c.call('echo', { i }), c.call('sleep', { ms: 20 }), c.call('echo', [i])])));
  results.forEach((r, i) => assert.deepEqual(r, [{ i }, 20, [i]]));
  assert.equal(server.stats.connectionsAccepted - before, 100);
  for (const c of clients) c.close();
  await until(() => server.stats.connectionsOpen === 0, 'the 100 connections to close');
});

test('a batch is answered with one array in request order; notifications in it get nothing', async () => {
  const raw = await RawClient.connect(socketPath);
  raw.send([request('sleep', 'a', { ms: 50 }), request('echo', undefined, ['note']), request('echo', 'b', [2]), { foo: 1 }, 7, request('nope', 'c')]);
  const [batch] = await raw.take(1);
  assert.ok(Array.isArray(batch));
  assert.equal(batch.length, 5, 'the notification is left out');
  assert.deepEqual(batch[0], { jsonrpc: '2.0', id: 'a', result: 50 });
  assert.deepEqual(batch[1], { jsonrpc: '2.0', id: 'b', result: [2] });
  error(null, INVALID_REQUEST, /"jsonrpc": "2.0"/)(batch[2]);
  error(null, INVALID_REQUEST, /JSON object, not a number/)(batch[3]);
  error('c', METHOD_NOT_FOUND)(batch[4]);
  assert.ok(dispatcher.calls.some((c) => c.method === 'echo' && JSON.stringify(c.params) === '["note"]'), 'the notification ran');

  raw.send('[]');
  error(null, INVALID_REQUEST, /empty batch/)((await raw.take(1))[0]);
  raw.send([[request('echo', 1)]]);
  const [nested] = (await raw.take(1)) as unknown[][];
  error(null, INVALID_REQUEST, /batches do not nest/)(nested[0]);

  // Notifications only, alone or in a batch: nothing is written, so the next thing read answers the next request.
  raw.send([request('echo', undefined, [1]), request('fail_type')]);
  raw.send(request('fail_wstor'));
  raw.send(request('echo', 'after', ['x']));
  assert.deepEqual(await raw.take(1), [{ jsonrpc: '2.0', id: 'after', result: ['x'] }]);
  raw.socket.destroy();
});

test('every error code: invalid request, method not found, invalid params, internal error, errno', async () => {
  const raw = await RawClient.connect(socketPath);
  const cases: [unknown, (v: unknown) => void][] = [
    [{ method: 'echo', id: 1 }, error(1, INVALID_REQUEST, /"jsonrpc": "2.0"/)],
    [{ jsonrpc: '1.0', method: 'echo', id: 2 }, error(2, INVALID_REQUEST)],
    [{ jsonrpc: '2.0', method: 5, id: 3 }, error(3, INVALID_REQUEST, /"method" string/)],
    [{ jsonrpc: '2.0', method: 'echo', id: { x: 1 } }, error(null, INVALID_REQUEST, /id must be/)],
    [{ jsonrpc: '2.0', method: 'echo', params: 'str', id: 4 }, error(4, INVALID_REQUEST, /"params" must be/)],
    [{ jsonrpc: '2.0', method: 'echo', params: null, id: 5 }, error(5, INVALID_REQUEST, /not null/)],
    [{ jsonrpc: '2.0', method: 'echo', params: 1 }, error(null, INVALID_REQUEST)],
    [request('nope', 6), error(6, METHOD_NOT_FOUND, /nope/)],
    [request('fail_params', 7), error(7, INVALID_PARAMS, /missing "name"/)],
    [request('fail_type', 8), error(8, INTERNAL_ERROR, /cannot read properties/)],
    [request('fail_string', 9), error(9, INTERNAL_ERROR, /a string/)],
    [request('fail_wstor', 10), error(10, -22, /^size must be a multiple of 4096$/)],
    [request('fail_errno', 11), error(11, -28, /create blob/)],
    [request('circular', 12), error(12, INTERNAL_ERROR, /could not be written as JSON/)],
  ];
  for (const [req, check] of cases) {
    raw.send(req);
    check((await raw.take(1))[0]);
  }
  assert.deepEqual(await raw.call('fail_params', undefined, 13), {
    jsonrpc: '2.0', id: 13, error: { code: INVALID_PARAMS, message: 'missing "name"', data: { param: 'name' } },
  });
  assert.deepEqual(await raw.call('big_int', undefined, 'n'), { jsonrpc: '2.0', id: 'n', result: { small: 5, huge: '18446744073709551615' } });
  assert.deepEqual(await raw.call('echo', [1], null), { jsonrpc: '2.0', id: null, result: [1] }, 'id null is an id, not a notification');
  assert.equal(raw.socket.destroyed, false, 'none of these closes the connection');
  raw.socket.destroy();
  assert.ok(logs.some((l) => l.level === 'warn' && /fail_type failed: TypeError/.test(l.message)), 'an unexpected error is logged with its stack');
});

test('the client rejects with RpcError for an error response and keeps working', async () => {
  const client = await RpcClient.connect({ socket: socketPath });
  await assert.rejects(client.call('fail_wstor'), (err: unknown) => err instanceof RpcError && err.code === -22 && /4096/.test(err.message));
  await assert.rejects(client.call('nope'), (err: unknown) => err instanceof RpcError && err.code === METHOD_NOT_FOUND);
  assert.deepEqual(await client.call('echo', { still: true }), { still: true });
  client.close();
  await assert.rejects(client.call('echo'), /the RPC client was closed/);
});

test('malformed JSON is a parse error, then the connection is closed; what came before it is answered', async () => {
  const raw = await RawClient.connect(socketPath);
  raw.send(JSON.stringify(request('sleep', 1, { ms: 50 })) + ' {"jsonrpc": "2.0", "method": }');
  const answers = await raw.take(2);
  error(null, PARSE_ERROR, /invalid JSON/)(answers[0]);
  assert.deepEqual(answers[1], { jsonrpc: '2.0', id: 1, result: 50 }, 'the call before the bad bytes still answers');
  await raw.closed;

  const garbage = await RawClient.connect(socketPath);
  garbage.send('hello\n');
  error(null, PARSE_ERROR, /unexpected byte 0x68/)((await garbage.take(1))[0]);
  await garbage.closed;

  const scalar = await RawClient.connect(socketPath);
  scalar.send('42');
  error(null, INVALID_REQUEST, /not a number/)((await scalar.take(1))[0]);
  await scalar.closed;
});

test('a client that ends its side after sending still gets its answers', async () => {
  const raw = await RawClient.connect(socketPath);
  raw.send(request('sleep', 1, { ms: 30 }));
  raw.socket.end();
  assert.deepEqual(await raw.take(1), [{ jsonrpc: '2.0', id: 1, result: 30 }]);
  await raw.closed;
});

test('clients that vanish mid-request or before their answer do not disturb the server', async () => {
  const tcpPort = server.tcpAddress?.port ?? 0;
  for (let i = 0; i < 20; i++) {
    // Over TCP a reset (RST) is what the server sees; a unix socket can only close.
    const raw = await RawClient.connect(i % 4 < 2 ? socketPath : tcpPort);
    if (i % 2) raw.send('{"jsonrpc":"2.0","method":"ec');
    else raw.send(request('sleep', i, { ms: 20 }));
    if (i % 4 < 2) raw.socket.destroy();
    else raw.socket.resetAndDestroy();
  }
  const client = await RpcClient.connect({ socket: socketPath });
  assert.deepEqual(await client.call('echo', ['alive']), ['alive']);
  client.close();
  await until(() => server.stats.connectionsOpen === 0, 'the reset connections to close');
});

test('python3 speaking as SPDK\'s rpc.py (no newline, read until the bytes parse) gets its answer', async (t) => {
  if (spawnSync('python3', ['--version']).error) {
    skipIfMissing(t, true, 'python3 is not installed: the rpc.py compatibility check did not run');
    return;
  }
  // The loop of scripts/rpc.py's JSONRPCClient: sendall the dumped request, then recv and json.loads until it parses.
  const script = [
    'import json, socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
    's.connect(sys.argv[1])',
    'for req in [{"jsonrpc": "2.0", "method": "echo", "params": {"name": "é{\\"}"}, "id": 1},',
    '            {"jsonrpc": "2.0", "method": "bytes", "params": {"count": 300000}, "id": 2},',
    '            {"jsonrpc": "2.0", "method": "fail_wstor", "id": 3}]:',
    '    s.sendall(json.dumps(req).encode("utf-8"))',
    '    buf = ""',
    '    while True:',
    '        data = s.recv(4096)',
    '        if not data: sys.exit("closed")',
    '        buf += data.decode("utf-8")',
    '        try:',
    '            resp = json.loads(buf)',
    '            break',
    '        except ValueError:',
    '            continue',
    '    print(json.dumps(resp)[:200])',
    's.close()',
  ].join('\n');
  const child = spawn('python3', ['-c', script, socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(status, 0, stderr);
  const lines = stdout.trim().split('\n');
  assert.deepEqual(JSON.parse(lines[0]), { jsonrpc: '2.0', id: 1, result: { name: 'é{"}' } });
  assert.match(lines[1], /^\{"jsonrpc": "2.0", "id": 2, "result": "xxxx/);
  assert.deepEqual(JSON.parse(lines[2]), { jsonrpc: '2.0', id: 3, error: { code: -22, message: 'size must be a multiple of 4096' } });
});
