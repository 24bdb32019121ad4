// Tiny plugins written in WAT for the plugin tests: a well-behaved one (inverts every byte of the
// window, so a test can see the data went through it) and the parts a hostile variant replaces.
import binaryen from 'binaryen';

/** Assemble WAT with binaryen's text parser. */
export function wat(text: string): Uint8Array<ArrayBuffer> {
  const m = binaryen.parseText(text);
  try {
    m.setFeatures(binaryen.Features.MVP | binaryen.Features.MutableGlobals | binaryen.Features.SignExt | binaryen.Features.BulkMemory);
    return new Uint8Array(m.emitBinary());
  } finally {
    m.dispose();
  }
}

export const WINDOW_AT = 1024;

/** The parts of a plugin module; each defaults to the well-behaved version. */
export interface PluginParts {
  imports?: string;
  memory?: string;
  abiVersion?: string;
  window?: string;
  init?: string;
  /** The body of wstor_io before the inverting loop (params $op $off $n; local $i $end). */
  ioPrologue?: string;
  ioSignature?: string;
  extra?: string;
}

export function pluginWat(p: PluginParts = {}): string {
  return `(module
  ${p.imports ?? '(import "wstor" "log" (func $log (param i32 i32)))'}
  ${p.memory ?? '(memory (export "memory") 4 4)'}
  (global $poisoned (mut i32) (i32.const 0))
  (global $blockSize (mut i32) (i32.const 0))
  (func (export "wstor_abi_version") (result i32) ${p.abiVersion ?? '(i32.const 1)'})
  (func (export "wstor_window") (param $bytes i32) (result i32) ${p.window ?? `(i32.const ${WINDOW_AT})`})
  (func (export "wstor_init") (param $len i32) (param $bs i32) (result i32)
    (global.set $blockSize (local.get $bs))
    ${p.init ?? '(i32.const 0)'})
  (func (export "wstor_io") ${p.ioSignature ?? '(param $op i32) (param $off i64) (param $n i32) (result i32)'}
    (local $i i32) (local $end i32)
    ${p.ioPrologue ?? ''}
    (if (global.get $poisoned) (then (return (i32.const -5))))
    (local.set $i (i32.const ${WINDOW_AT}))
    (local.set $end (i32.add (i32.const ${WINDOW_AT}) (i32.mul (local.get $n) (global.get $blockSize))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (i32.store8 (local.get $i) (i32.xor (i32.load8_u (local.get $i)) (i32.const 255)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.const 0))
  ${p.extra ?? ''}
)`;
}

export function pluginBytes(p: PluginParts = {}): Uint8Array<ArrayBuffer> { return wat(pluginWat(p)); }
