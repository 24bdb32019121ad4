// as-pect: unit tests of pure AssemblyScript logic (no shared memory, no workers). Anything that needs
// several instances or the shared memory is tested with node:test against build/core-test.wasm.
export default {
  entries: ['tests/as-pect/**/*.spec.ts'],
  include: [],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    // No host CRC here: crc32cUpdate keeps to its own loop (-38, ENOSYS), the path the specs check.
    return instantiate(binary, createImports({ env: { memory }, host: { crc32c: () => -38 } }));
  },
  outputBinary: false,
};
