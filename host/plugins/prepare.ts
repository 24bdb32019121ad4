// The control plane's step before a plugin reaches any reactor: check it against the ABI and the
// bdev's limits, meter it, and hand back the bytes the reactors compile. Runs where binaryen is
// loaded (the host's main thread), never on a reactor.

import { WstorError } from '../errors.js';
import { checkPlugin, readPlugin } from './check.js';
import { meterModule } from './meter.js';
import type { PluginLimits } from './abi.js';

/**
 * The metered module of plugin `bytes`, or a WstorError (EINVAL) naming what the plugin got wrong.
 * `charge: false` leaves out the charges (the fuel global stays): only bench/plugin.ts measures that way.
 */
export function preparePlugin(bytes: Uint8Array, limits: PluginLimits, opts: { charge?: boolean } = {}): Uint8Array<ArrayBuffer> {
  const module = readPlugin(bytes);
  try {
    checkPlugin(module, limits.memoryPages);
    meterModule(module, limits.fuel, opts.charge ?? true);
    if (!module.validate()) throw new WstorError('EINVAL', 'plugin refused: the metered module does not validate (a metering pass bug: please report it)');
    const metered = new Uint8Array(module.emitBinary());
    if (!WebAssembly.validate(metered)) throw new WstorError('EINVAL', 'plugin refused: this engine\'s WebAssembly does not accept the module');
    return metered;
  } finally {
    module.dispose();
  }
}
