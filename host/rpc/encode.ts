// One response as JSON text within a byte budget, counted as it is produced: an array result goes element
// by element, so an answer too large to send is stopped early instead of being built whole (a batch of big
// answers once passed V8's longest string), and a long one yields to the event loop between chunks so the
// calls of other connections run meanwhile.
import { replaceBigint, type RpcResponse } from './protocol.js';

/** Bytes produced between two yields to the event loop. */
export const ENCODE_CHUNK_BYTES = 256 << 10;
/** The text one run of array elements aims at (runs grow and shrink around it). */
const CHUNK_TEXT_BYTES = 64 << 10;

/** What an answer's bytes are taken from: the connection's room for queued output. */
export interface ByteBudget {
  /** Take `bytes` more if they fit; false (nothing taken) if not. */
  reserve(bytes: number): boolean;
  release(bytes: number): void;
}

/**
 * The answer as UTF-8 chunks (written in order, never joined) and the bytes it reserved; or why it was
 * stopped: `answer` when the answer alone passes `maxAnswerBytes`, `queue` when it would fit alone but
 * not beside what the budget already holds. Nothing stays reserved for a stopped answer.
 */
export type Encoded = { chunks: Buffer[]; bytes: number } | { stopped: 'answer' | 'queue' };

function isPlainArray(value: unknown): value is unknown[] {
  return Array.isArray(value) && !('toJSON' in value);
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Encode `response` (JSON.stringify's text, bigints as protocol.ts writes them). Throws what JSON.stringify
 * throws for a value that is not JSON (a cycle, a failing toJSON): the caller answers that as an error.
 */
export async function encodeWithin(response: RpcResponse, maxAnswerBytes: number, budget: ByteBudget): Promise<Encoded> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let sinceYield = 0;
  const stop = (why: 'answer' | 'queue'): Encoded => { budget.release(bytes); return { stopped: why }; };
  // Each text is encoded once, which also counts its bytes exactly.
  const add = (text: string): 'answer' | 'queue' | null => {
    if (bytes + text.length > maxAnswerBytes) return 'answer';      // UTF-8 is never shorter than UTF-16 units
    const chunk = Buffer.from(text);
    if (bytes + chunk.length > maxAnswerBytes) return 'answer';
    if (!budget.reserve(chunk.length)) return 'queue';
    chunks.push(chunk);
    bytes += chunk.length;
    sinceYield += chunk.length;
    return null;
  };
  const result = 'result' in response ? response.result : undefined;
  if (!isPlainArray(result)) {
    let text: string;
    try {
      text = JSON.stringify(response, replaceBigint);
    } catch (err) {
      // V8's longest string is about 2^29 characters: far past any budget.
      if (err instanceof RangeError && /string length/i.test(err.message)) return { stopped: 'answer' };
      throw err;
    }
    const why = add(text);
    return why === null ? { chunks, bytes } : stop(why);
  }
  // Elements go in runs, as JSON.stringify writes an array (what has no JSON form is null), the run
  // doubling while its text stays under CHUNK_TEXT_BYTES and halving past it: few calls for many small
  // elements, little produced past the budget for large ones.
  let pending = `{"jsonrpc":"2.0","id":${JSON.stringify(response.id)},"result":[`;
  let why: 'answer' | 'queue' | null = null;
  let run = 1;
  for (let i = 0; why === null && i < result.length;) {
    const slice = result.slice(i, i + run);
    const text = JSON.stringify(slice, replaceBigint);
    why = add(`${pending}${i === 0 ? '' : ','}${text.slice(1, -1)}`);
    pending = '';
    i += slice.length;
    run = text.length < CHUNK_TEXT_BYTES ? run * 2 : Math.max(1, run >> 1);
    if (sinceYield >= ENCODE_CHUNK_BYTES) { sinceYield = 0; await yieldToLoop(); }
  }
  if (why === null) why = add(`${pending}]}`);
  return why === null ? { chunks, bytes } : stop(why);
}
