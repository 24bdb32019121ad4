#!/usr/bin/env node
// The `wstor` command: dispatches to subcommands; every error ends with a message and a non-zero exit.
import { demoCommand, demoUsage } from './cli/demo.js';
import { perfCommand, perfUsage } from './cli/perf.js';
import { bsCommand, bsUsage } from './cli/bs.js';
import { rpcCommand, rpcUsage } from './cli/rpc.js';
import { serveCommand, serveUsage } from './cli/serve.js';
import { fuzzCommand, fuzzUsage } from './cli/fuzz.js';
import { webCommand, webUsage } from './cli/web.js';
import { UsageError } from './cli/args.js';
import { WstorError } from './errors.js';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; usage: string; summary: string }> = {
  demo: { run: demoCommand, usage: demoUsage, summary: 'walk through the engine: messages between reactors, then a bdev, a blobstore and blobs' },
  perf: { run: perfCommand, usage: perfUsage, summary: 'measure a bdev: IOPS, bandwidth and latency percentiles (bdevperf)' },
  bs: { run: bsCommand, usage: bsUsage, summary: 'a blobstore in a file: init, list, create, import, export, resize, delete, xattrs' },
  serve: { run: serveCommand, usage: serveUsage, summary: 'run a storage target that answers SPDK\'s JSON-RPC (spdk_tgt); npm start runs it' },
  rpc: { run: rpcCommand, usage: rpcUsage, summary: 'call a method of a running wstor server over JSON-RPC (SPDK\'s rpc.py)' },
  fuzz: { run: fuzzCommand, usage: fuzzUsage, summary: 'coverage-guided fuzzing of the core in this process (libFuzzer\'s flags and artifacts)' },
  web: { run: webCommand, usage: webUsage, summary: 'serve the browser build and its demo page (a blobstore on OPFS), cross-origin isolated' },
};

function mainUsage(): string {
  const list = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`).join('\n');
  return `usage: wstor COMMAND [options]\n\ncommands:\n${list}\n\n"wstor COMMAND --help" shows a command's options.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainUsage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`wstor: unknown command "${name}"\n\n${mainUsage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`wstor ${name}: ${err.message}\n\n${command.usage}`);
      return 2;
    }
    if (err instanceof WstorError) {
      process.stderr.write(`wstor ${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
