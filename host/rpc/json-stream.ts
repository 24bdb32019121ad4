// Splits a byte stream that carries JSON values back to back, with no delimiter (SPDK's JSON-RPC framing:
// rpc.py writes an object and reads until what it has parses), into those values, one at a time.
import { INVALID_REQUEST, PARSE_ERROR, RpcError } from './errors.js';

/** The largest value the splitter accepts, whitespace around it not counted. */
export const JSON_VALUE_MAX_BYTES = 4 << 20;
/** How deep objects and arrays may nest; JSON-RPC requests need a handful of levels. */
export const JSON_DEPTH_MAX = 64;

const OPEN_BRACE = 0x7b, CLOSE_BRACE = 0x7d, OPEN_BRACKET = 0x5b, CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22, BACKSLASH = 0x5c;
const SPACE = 0x20, TAB = 0x09, LF = 0x0a, CR = 0x0d;

/** What a top-level value that is not an object or array starts with, for the message that refuses it. */
function scalarKind(byte: number): string | null {
  if (byte === QUOTE) return 'a string';
  if (byte === 0x2d || (byte >= 0x30 && byte <= 0x39)) return 'a number';
  if (byte === 0x74 || byte === 0x66) return 'a boolean';
  if (byte === 0x6e) return 'null';
  return null;
}

export interface JsonSplitterOptions {
  maxValueBytes?: number;
}

/**
 * Feed bytes with push(), take values with next(). Only bytes are scanned (string and escape state, {}/[]
 * depth), so a multibyte character split across chunks is fine: a value is decoded once it is complete.
 * The first error is final: the position in the stream is lost, so the caller should close the stream.
 */
export class JsonSplitter {
  readonly maxValueBytes: number;
  /** Chunks pushed and not fully scanned; `scanOffset` is how far into the first one scanning got. */
  private readonly chunks: Uint8Array[] = [];
  private scanOffset = 0;
  /** The current value's bytes from chunks already scanned past. */
  private readonly parts: Uint8Array[] = [];
  private partBytes = 0;
  /** Where the current value starts in chunks[0], or -1 between values. */
  private valueStart = -1;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private failure: RpcError | null = null;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(options: JsonSplitterOptions = {}) {
    this.maxValueBytes = options.maxValueBytes ?? JSON_VALUE_MAX_BYTES;
    if (!Number.isInteger(this.maxValueBytes) || this.maxValueBytes < 2) {
      throw new RangeError(`maxValueBytes must be a whole number of at least 2 (got ${options.maxValueBytes})`);
    }
  }

  /** Queue bytes; they are scanned by next(). The caller bounds how much it pushes before taking values. */
  push(chunk: Uint8Array): void {
    if (chunk.length > 0) this.chunks.push(chunk);
  }

  /** True while a value has begun but not ended: a stream that ends now ended mid-value. */
  get midValue(): boolean {
    return this.valueStart >= 0 || this.partBytes > 0;
  }

  /** The next complete value, or undefined until more bytes arrive; throws RpcError on bad input. */
  next(): unknown {
    if (this.failure) throw this.failure;
    try {
      return this.scan();
    } catch (err) {
      this.failure = err instanceof RpcError ? err : new RpcError(PARSE_ERROR, `invalid JSON: ${(err as Error).message}`);
      this.chunks.length = 0;
      this.parts.length = 0;
      throw this.failure;
    }
  }

  private scan(): unknown {
    while (this.chunks.length > 0) {
      const chunk = this.chunks[0];
      for (let i = this.scanOffset; i < chunk.length; i++) {
        if (this.valueStart < 0 && this.partBytes === 0) {
          if (!this.startValue(chunk[i])) continue;
          this.valueStart = i;
        }
        if (this.step(chunk[i])) {
          this.checkSize(this.partBytes + i + 1 - this.valueStart);
          const bytes = this.take(chunk.subarray(this.valueStart, i + 1));
          this.scanOffset = i + 1;
          return this.parse(bytes);
        }
      }
      // Chunk used up: keep the current value's part of it, drop the rest.
      if (this.valueStart >= 0) {
        this.parts.push(chunk.subarray(this.valueStart));
        this.partBytes += chunk.length - this.valueStart;
        this.checkSize(this.partBytes);
        this.valueStart = 0;
      }
      this.chunks.shift();
      this.scanOffset = 0;
    }
    return undefined;
  }

  /** Between values: false for whitespace, true for the opening of an object or array; else an error. */
  private startValue(byte: number): boolean {
    if (byte === SPACE || byte === TAB || byte === LF || byte === CR) return false;
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) return true;
    const kind = scalarKind(byte);
    if (kind !== null) throw new RpcError(INVALID_REQUEST, `a request must be a JSON object or array, not ${kind}`);
    throw new RpcError(PARSE_ERROR, `invalid JSON: unexpected byte 0x${byte.toString(16).padStart(2, '0')} between values`);
  }

  /** Advance the string/escape/depth state over one byte of a value; true when it closes the value. */
  private step(byte: number): boolean {
    if (this.inString) {
      if (this.escaped) this.escaped = false;
      else if (byte === BACKSLASH) this.escaped = true;
      else if (byte === QUOTE) this.inString = false;
      return false;
    }
    if (byte === QUOTE) {
      this.inString = true;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++this.depth > JSON_DEPTH_MAX) {
        throw new RpcError(INVALID_REQUEST, `a request may nest objects and arrays at most ${JSON_DEPTH_MAX} deep`);
      }
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      return --this.depth === 0;
    }
    return false;
  }

  private checkSize(valueBytes: number): void {
    if (valueBytes > this.maxValueBytes) {
      throw new RpcError(INVALID_REQUEST, `a request is larger than the limit of ${this.maxValueBytes} bytes: send smaller requests`);
    }
  }

  /** The whole current value: the parts kept from earlier chunks and `tail`; resets for the next value. */
  private take(tail: Uint8Array): Uint8Array {
    let bytes = tail;
    if (this.parts.length > 0) {
      this.parts.push(tail);
      bytes = Buffer.concat(this.parts, this.partBytes + tail.length);
    }
    this.parts.length = 0;
    this.partBytes = 0;
    this.valueStart = -1;
    return bytes;
  }

  private parse(bytes: Uint8Array): unknown {
    let text: string;
    try {
      text = this.decoder.decode(bytes);
    } catch {
      throw new RpcError(PARSE_ERROR, 'invalid JSON: the request is not valid UTF-8');
    }
    return JSON.parse(text) as unknown;
  }
}
