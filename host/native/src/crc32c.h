/* CRC32C of the shared Wasm memory with the CPU's instruction (crc32c.c). */
#ifndef WSTOR_CRC32C_H
#define WSTOR_CRC32C_H
#include <stdbool.h>
#include <node_api.h>

bool wstor_crc32c_hardware(void);
napi_value wstor_crc32c_memory(napi_env env, napi_callback_info info);

#endif
