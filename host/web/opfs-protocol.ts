// The messages between the page and the OPFS worker (opfs-worker.ts), each answered by its id.

export type OpfsRequest =
  | { type: 'attach'; id: number; memory: WebAssembly.Memory; bell: SharedArrayBuffer; rings: SharedArrayBuffer[] }
  /** `sizeBytes` null: take the file's size; else grow it to that (never shrink). */
  | { type: 'open'; id: number; name: string; sizeBytes: number | null; create: boolean }
  | { type: 'close'; id: number; fd: number }
  | { type: 'remove'; id: number; name: string }
  | { type: 'stop'; id: number };

export type OpfsReply =
  | { type: 'done'; id: number }
  | { type: 'opened'; id: number; fd: number; bytes: number }
  | { type: 'failed'; id: number; code: string; message: string }
  /** A request failed on a reactor's ring: said as that reactor's error report. */
  | { type: 'report'; reactor: number; code: number; message: string };
