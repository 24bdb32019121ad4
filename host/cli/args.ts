// A small, strict flag parser for the wstor commands: unknown flags and bad values are errors that
// name the flag, never silently ignored.

export interface FlagSpec {
  /** Long name without dashes, e.g. "reactors". */
  name: string;
  /** One-letter alias, e.g. "r". */
  short?: string;
  kind: 'string' | 'integer' | 'boolean';
  help: string;
  default?: string | number | boolean;
}

export class UsageError extends Error {}

export type Flags = Record<string, string | number | boolean | undefined>;

/**
 * Flags anywhere in argv; the other arguments in `rest`. With `stopAtFirstPositional`, flags only before the
 * first other argument: it and everything after it go to `rest` as they are (a subcommand's own arguments).
 */
export function parseFlags(argv: string[], specs: FlagSpec[], options: { stopAtFirstPositional?: boolean } = {}): { flags: Flags; rest: string[] } {
  const flags: Flags = {};
  for (const s of specs) if (s.default !== undefined) flags[s.name] = s.default;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-') || arg === '-') {
      if (options.stopAtFirstPositional) { rest.push(...argv.slice(i)); break; }
      rest.push(arg);
      continue;
    }
    const [key, inline] = arg.replace(/^--?/, '').split(/=(.*)/s, 2);
    const spec = specs.find((s) => (arg.startsWith('--') ? s.name === key : s.short === key));
    if (!spec) throw new UsageError(`unknown option ${arg}`);
    if (spec.kind === 'boolean') { flags[spec.name] = true; continue; }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`option --${spec.name} needs a value`);
    if (spec.kind === 'integer') {
      if (!/^\d+$/.test(value)) throw new UsageError(`option --${spec.name} takes a whole number (got "${value}")`);
      flags[spec.name] = Number(value);
    } else {
      flags[spec.name] = value;
    }
  }
  return { flags, rest };
}

export function usageText(command: string, summary: string, specs: FlagSpec[]): string {
  const lines = specs.map((s) => {
    const names = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.kind === 'boolean' ? '' : ' VALUE'}`;
    const def = s.default !== undefined && s.kind !== 'boolean' ? ` (default ${s.default})` : '';
    return `  ${names.padEnd(28)} ${s.help}${def}`;
  });
  return `usage: wstor ${command}\n${summary}\n\noptions:\n${lines.join('\n')}\n`;
}

/** Parse a size like 256MiB, 1GiB, 4096 (bytes). */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+)\s*(|b|k|kib|kb|m|mib|mb|g|gib|gb)$/i.exec(text.trim());
  if (!m) throw new UsageError(`${what}: "${text}" is not a size (use e.g. 4096, 64MiB, 1GiB)`);
  const scale: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, kb: 1024, m: 1 << 20, mib: 1 << 20, mb: 1 << 20, g: 1 << 30, gib: 1 << 30, gb: 1 << 30 };
  return Number(m[1]) * scale[m[2].toLowerCase()];
}
