// The Blobstore through the deterministic harness, for tests that forge and corrupt images: a store on
// a malloc bdev whose bytes the test reads and writes directly (the image), and the md-thread ops of
// tests/core/blob-hooks.ts as plain calls that poll until they complete. (The format: blob-image.ts.)
import { newHarness, type Harness } from './core.js';
import { crc32c } from '../../host/cli/bs-dump.js';
import { PAGE, SB, pattern, seal, setParentDescriptor } from './blob-image.js';

export { PAGE, SB, MDP, DESC, blobIdOf, pageOf, pattern, seal, findDescriptor, setParentDescriptor } from './blob-image.js';

/** tests/core/blob-hooks.ts's op codes (declared once, in opcodes.ts). */
import { BlobOp as OP } from './opcodes.js';
export { OP };

/** Polls per op before it counts as stalled: far more than any op here needs. */
const POLLS_MAX = 200_000;

export class BlobHarness {
  private constructor(readonly h: Harness, readonly t: number, readonly ctx: number, readonly bdev: number, readonly blocks: number) {}

  /** A harness with a md thread and a malloc bdev of `blocks` 4 KiB blocks. */
  static async create(blocks: number): Promise<BlobHarness> {
    const h = await newHarness();
    const t = h.core.h_thread_create(0, -1, 4096);
    h.core.hb_set_app_thread(t);
    return new BlobHarness(h, t, h.core.hbs_ctx_new(), h.core.hb_malloc_create(PAGE, blocks), blocks);
  }

  /** Run op `code` on the md thread until it completes: its rc (value() has its value). Throws if it stalls. */
  op(code: number, args: number[] = [], id?: bigint): number {
    const { h, ctx } = this;
    h.setU32(ctx, code, 0);
    args.forEach((v, i) => h.setU32(ctx, v >>> 0, 7 + i));
    if (id !== undefined) { h.setU32(ctx, Number(id & 0xffffffffn), 5); h.setU32(ctx, Number(id >> 32n), 6); }
    const before = h.u32(ctx, 2);
    h.core.hbs_send(this.t, ctx);
    for (let i = 0; i < POLLS_MAX && h.u32(ctx, 2) === before; i++) h.core.h_poll(this.t, 0);
    if (h.u32(ctx, 2) === before) throw new Error(`op ${code} never completed (stalled); errors: ${h.messages('error').slice(-3).join('; ')}`);
    return h.i32(ctx, 1);
  }

  value(): bigint { return BigInt(this.h.u32(this.ctx, 11)) | (BigInt(this.h.u32(this.ctx, 12)) << 32n); }

  /** Op `code` must succeed: its value. */
  ok(code: number, args: number[] = [], id?: bigint): bigint {
    const rc = this.op(code, args, id);
    if (rc !== 0) throw new Error(`op ${code} (${args.join(',')}${id === undefined ? '' : ` ${id}`}) failed with ${rc}: ${this.h.messages('error').slice(-3).join('; ')}`);
    return this.value();
  }

  get store(): number { return this.h.u32(this.ctx, 3); }
  set store(ptr: number) { this.h.setU32(this.ctx, ptr, 3); }
  get blob(): number { return this.h.u32(this.ctx, 4); }
  set blob(ptr: number) { this.h.setU32(this.ctx, ptr, 4); }

  init(clusterBytes: number, mdPages = 0): void { this.store = Number(this.ok(OP.init, [this.bdev, clusterBytes, mdPages])); }

  /** Load the store (read-only when asked): rc; on success it is the current store. */
  load(opts: { readOnly?: boolean } = {}): number {
    const rc = this.op(opts.readOnly ? OP.loadReadOnly : OP.load, [this.bdev]);
    this.store = rc === 0 ? Number(this.value()) : 0;
    return rc;
  }

  /** Open blob `id`: rc; on success it is the current blob. */
  open(id: bigint): number {
    const rc = this.op(OP.open, [], id);
    if (rc === 0) this.blob = Number(this.value());
    return rc;
  }

  /** The current blob's I/O channel on the md thread (for read and write); putChannel() gives it back. */
  channel(): void { this.ok(OP.channel); }
  putChannel(): void { if (this.h.u32(this.ctx, 13) !== 0) this.ok(OP.putChannel); }

  private ioBuf = 0;
  private ioBufBytes = 0;
  private buffer(bytes: number): number {
    if (bytes > this.ioBufBytes) {
      if (this.ioBuf !== 0) this.h.core.h_free(this.ioBuf);
      this.ioBuf = this.h.scratch(bytes);
      this.ioBufBytes = bytes;
    }
    return this.ioBuf;
  }

  /** Write `units` io units of pattern(seed) at unit `offset` of the current blob (channel() first): rc. */
  write(offset: number, units: number, seed: number): number {
    const buf = this.buffer(units * PAGE);
    new Uint8Array(this.h.memory.buffer, buf, units * PAGE).set(pattern(units * PAGE, seed));
    return this.op(OP.write, [buf, offset, units]);
  }

  /** Read `units` io units at unit `offset` of the current blob: the bytes, or the rc when it failed. */
  read(offset: number, units: number): Uint8Array | number {
    const buf = this.buffer(units * PAGE);
    const rc = this.op(OP.read, [buf, offset, units]);
    return rc === 0 ? new Uint8Array(this.h.memory.buffer, buf, units * PAGE).slice() : rc;
  }

  /** The malloc bdev's bytes: the image, read and written in place. */
  image(): Uint8Array { return new Uint8Array(this.h.memory.buffer, this.h.core.hbs_bdev_data(this.bdev), this.blocks * PAGE); }
  page(n: number): DataView { return new DataView(this.h.memory.buffer, this.h.core.hbs_bdev_data(this.bdev) + n * PAGE, PAGE); }
  superBlock(): DataView { return this.page(0); }

  /** Where md page `index` of the md region sits on the device (in pages). */
  mdPageAt(index: number): number { return this.superBlock().getUint32(SB.mdStart, true) + index; }

  /** Messages of reports at or above `level` since `from` (an index into h.reports). */
  said(level: 'error' | 'warn' | 'notice', from = 0): string {
    const order = ['fatal', 'error', 'warn', 'notice', 'info', 'debug'];
    return this.h.reports.slice(from).filter((r) => order.indexOf(r.level) <= order.indexOf(level)).map((r) => r.message).join('\n');
  }
}

/**
 * Recompute the super block's mask CRC over the mask region (the one it names, or the one given) and
 * then its own CRC, as a forger would.
 */
export function sealMasks(b: BlobHarness, start = b.superBlock().getUint32(SB.maskStart, true), len = b.superBlock().getUint32(SB.maskLen, true)): void {
  const sb = b.superBlock();
  const bytes = b.image().subarray(start * PAGE, Math.min((start + len) * PAGE, b.blocks * PAGE));
  sb.setUint32(SB.maskCrc, crc32c(bytes), true);
  seal(sb);
}

/** Make the blob at md page `index` name `parent` as its parent, in the harness's image. */
export function forgeParent(b: BlobHarness, index: number, parent: bigint): void {
  setParentDescriptor(b.page(b.mdPageAt(index)), parent);
}
