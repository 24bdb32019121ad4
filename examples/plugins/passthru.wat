;; The pass-through plugin (wstor plugin ABI 1, docs/plugins.md), in WebAssembly text: every read and
;; write goes through unchanged. It is what a plugin costs with no work of its own (bench/plugin.ts),
;; and the smallest module the loader accepts. Assembled at build time (scripts/build-plugins.mjs).
(module
  (import "wstor" "log" (func $log (param i32 i32)))
  ;; The window starts at 64 KiB; one page before it holds the greeting. Three pages, never more.
  (memory (export "memory") 3 3)
  (data (i32.const 16) "pass-through ready")
  (func (export "wstor_abi_version") (result i32) (i32.const 1))
  ;; A window of up to two pages at 64 KiB, or none (0: the engine refuses the plugin and says why).
  (func (export "wstor_window") (param $bytes i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $bytes) (i32.const 131072))
      (then (i32.const 0))
      (else (i32.const 65536))))
  (func (export "wstor_init") (param $config_len i32) (param $block_size i32) (result i32)
    (call $log (i32.const 16) (i32.const 18))
    (i32.const 0))
  (func (export "wstor_io") (param $op i32) (param $offset_blocks i64) (param $num_blocks i32) (result i32)
    (i32.const 0)))
