// `wstor web`: serve the browser build (build/) and its demo page, cross-origin isolated, until
// interrupted. Loopback unless --host says otherwise.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags, usageText, UsageError, type FlagSpec } from './args.js';
import { startStaticServer } from '../web/server.js';
import { demoPageHtml } from '../web/demo-page.js';
import { vendorFiles } from '../web/vendor.js';

const SPECS: FlagSpec[] = [
  { name: 'port', short: 'p', kind: 'integer', help: 'TCP port (0: any free one)', default: 8080 },
  { name: 'host', kind: 'string', help: 'address to listen on (loopback unless told otherwise)', default: '127.0.0.1' },
  { name: 'help', short: 'h', kind: 'boolean', help: 'show this help' },
];

export const webUsage = usageText('web [options]',
  'Serves the engine\'s browser build and a demo page (a blobstore on OPFS: write, read, snapshot,\n' +
  'list, and blob rates on OPFS and in memory) with the COOP/COEP headers its shared memory needs.\n' +
  'Open the printed address in Chromium or another browser with OPFS; Ctrl-C stops it.', SPECS);

/** build/, the directory the browser entry (build/host/web/index.js) and core.wasm are under. */
const buildDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function webCommand(argv: string[]): Promise<number> {
  const { flags, rest } = parseFlags(argv, SPECS);
  if (flags.help) { process.stdout.write(webUsage); return 0; }
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`);
  const port = flags.port as number;
  if (port > 65535) throw new UsageError(`--port ${port}: a TCP port is at most 65535`);
  const server = await startStaticServer({ root: buildDir, port, host: flags.host as string, files: { ...vendorFiles(), '/': { contentType: 'text/html; charset=utf-8', body: demoPageHtml() } } });
  process.stdout.write(`wstor web: serving ${buildDir} at ${server.url} (the demo page is /); Ctrl-C stops\n`);
  await new Promise<void>((resolve) => {
    const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
