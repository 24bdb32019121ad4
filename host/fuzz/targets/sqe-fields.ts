// What the NVMe targets' structure-aware mutators change in a 64-byte submission queue entry: the
// fields the controller decodes first (opcode, Fabrics type, CID, NSID, command dwords, SGL1), each
// set to a value that sits on a boundary. Shared by nvmf-tcp (an SQE inside a capsule PDU) and
// nvme-cmd (an SQE in a record).
import type { MutateContext } from '../targets.js';

export const INTERESTING_U32 = [0, 1, 2, 0x3f, 0x40, 0x7f, 0x80, 0xff, 0x100, 0x3ff, 0x400, 0x1000, 0x2000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
/** Opcodes worth landing on: the admin and NVM commands the target knows, Fabrics, and a few it does not. */
const OPCODES = [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0a, 0x0c, 0x18, 0x7f, 0x80, 0xff];

/** Change one field of the SQE at byte `sqe` of `bytes` (which must hold all 64 of its bytes). */
export function rewriteSqeField(bytes: Uint8Array, sqe: number, rng: MutateContext['rng']): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (rng.int(6)) {
    case 0: bytes[sqe] = rng.oneIn(4) ? rng.int(256) : rng.choose(OPCODES); break;
    case 1: bytes[sqe + 4] = rng.choose([0x00, 0x01, 0x04, 0x05, 0x08, 0x0c, rng.int(256)]); break;   // fctype of a Fabrics command
    case 2: view.setUint16(sqe + 2, rng.choose([0, 1, 2, 31, 32, 0xffff, rng.int(65536)]), true); break;   // CID
    case 3: view.setUint32(sqe + 4, rng.choose([0, 1, 2, 0xffffffff, 0xfffffffe]), true); break;   // NSID
    case 4: view.setUint32(sqe + 40 + 4 * rng.int(6), rng.choose(INTERESTING_U32), true); break;   // CDW10..15
    default: view.setUint32(sqe + 32, rng.choose(INTERESTING_U32), true); bytes[sqe + 39] = rng.choose([0x01, 0x5a, 0x00, 0x40, 0xff]);   // SGL1
  }
}
