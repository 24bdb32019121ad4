// Every finding fixed stays fixed: each file under tests/fuzz-regressions/<target>/ is an input the
// fuzzer once found crashing, hanging or leaking; it must now run clean. Also the targets' own seeds
// (they start every campaign) must run clean and reach different code, the nvmf-tcp mutator must
// keep the digests a PDU claims valid, and the nvme-cmd one whole records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FuzzInstance } from '../../host/fuzz/instance.js';
import { FUZZ_WASM } from '../../host/fuzz/runner.js';
import { FUZZ_TARGETS, fuzzTarget } from '../../host/fuzz/targets.js';
import { FuzzRng } from '../../host/fuzz/rng.js';
import { crc32c, PDU_FLAG } from '../helpers/nvme-tcp-pdu.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const regressions = path.join(root, 'tests', 'fuzz-regressions');
const module = new WebAssembly.Module(fs.readFileSync(FUZZ_WASM));

for (const target of FUZZ_TARGETS) {
  const dir = path.join(regressions, target.name);
  const inputs = fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
  if (inputs.length === 0) continue;
  test(`${target.name}: the regression inputs of fixed findings run clean`, async () => {
    const data = inputs.map((f) => new Uint8Array(fs.readFileSync(path.join(dir, f))));
    const instance = await FuzzInstance.create(module, target, Math.max(...data.map((d) => d.length)));
    data.forEach((d, i) => assert.equal(instance.run(d).kind, 'ok', `${target.name}/${inputs[i]}: ${JSON.stringify(instance.run(d))}`));
  });
}

for (const target of FUZZ_TARGETS) {
  test(`${target.name}: the seeds every campaign starts from run clean (no trap, nothing leaked)`, async () => {
    const seeds = target.seeds();
    const instance = await FuzzInstance.create(module, target, Math.max(...seeds.map((d) => d.length)));
    for (const seed of seeds) assert.equal(instance.run(seed).kind, 'ok');
  });
}

// nvmf-tcp's seed 0 is the IC exchange alone (a prefix of the others); every other seed of both goes somewhere new.
for (const [name, prefixSeeds] of [['nvmf-tcp', 1], ['nvme-cmd', 0]] as const) {
  test(`${name}: its seeds run clean (nothing leaked), each reaching code the others do not`, async () => {
    const target = fuzzTarget(name)!;
    const seeds = target.seeds();
    const instance = await FuzzInstance.create(module, target, target.maxLenDefault);
    const lit = seeds.map((s) => {
      const outcome = instance.run(s);
      assert.deepEqual(outcome.kind, 'ok', JSON.stringify(outcome));
      return new Set([...instance.counters()].flatMap((v, i) => (v !== 0 ? [i] : [])));
    });
    lit.forEach((sites, i) => {
      if (i < prefixSeeds) return;
      const others = new Set(lit.filter((_, j) => j !== i).flatMap((s) => [...s]));
      assert.ok([...sites].some((s) => !others.has(s)), `seed ${i} adds no site of its own`);
    });
    if (name === 'nvmf-tcp') assert.ok(lit[1].size > lit[0].size * 2, 'a Connect and admin commands go much deeper than the IC exchange alone');
  });
}

test('nvme-cmd: the mutator keeps records whole (a mutation adds or drops at most one)', () => {
  const target = fuzzTarget('nvme-cmd')!;
  const seeds = target.seeds();
  const records = (input: Uint8Array): number => {
    let at = 1, n = 0;
    for (; at + 67 <= input.length; n++) {
      const length = input[at + 1] | (input[at + 2] << 8);
      const sqe = input.subarray(at + 3, at + 67);
      const data = ((sqe[0] === 0x7f ? sqe[4] : sqe[0]) & 3) === 1;
      at += 67 + (data ? Math.min(length, input.length - at - 67) : 0);
    }
    return n;
  };
  const rng = new FuzzRng(5);
  for (let i = 0; i < 500; i++) {
    const input = seeds[i % seeds.length];
    const out = target.mutate!(input, { rng, maxLen: 1 << 20, other: () => seeds[(i + 1) % seeds.length] });
    assert.ok(out);
    assert.ok(Math.abs(records(out) - records(input)) <= 1, `mutation ${i}: ${records(input)} records became ${records(out)}`);
  }
});

test('nvmf-tcp: the mutator keeps every header and data digest a PDU claims valid', () => {
  const target = fuzzTarget('nvmf-tcp')!;
  const withDigests = target.seeds()[2];
  const rng = new FuzzRng(11);
  let checked = 0;
  for (let i = 0; i < 300; i++) {
    const out = target.mutate!(withDigests, { rng, maxLen: 1 << 16, other: () => withDigests });
    assert.ok(out);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let at = 1; at + 8 <= out.length;) {
      const type: number = out[at], flags: number = out[at + 1], hlen: number = out[at + 2], pdo: number = out[at + 3];
      const plen: number = view.getUint32(at + 4, true);
      if (plen < 8 || at + plen > out.length) break;
      const pdu = out.subarray(at, at + plen);
      if (type === 4 && flags & PDU_FLAG.HDGSTF && hlen >= 8 && hlen + 4 <= plen) {
        assert.equal(view.getUint32(at + hlen, true), crc32c(pdu.subarray(0, hlen)), `mutation ${i}: header digest at ${at}`);
        checked++;
      }
      if (type === 4 && flags & PDU_FLAG.DDGSTF && pdo >= 8 && pdo + 4 <= plen) {
        assert.equal(view.getUint32(at + plen - 4, true), crc32c(pdu.subarray(pdo, plen - 4)), `mutation ${i}: data digest at ${at}`);
      }
      at += plen;
    }
  }
  assert.ok(checked > 300, `digests were checked (${checked})`);
});
