// How `wstor rpc` prints a result for a person: a list of objects as a table, an object as `key: value`
// lines, a scalar bare. (--json prints the result as it came, for scripts.)

/** Table cells and values longer than this are cut, so one long value does not push a table off the screen. */
export const CELL_MAX_CHARS = 64;
const CUT_NOTE = `(values longer than ${CELL_MAX_CHARS} characters are cut; --json shows them whole)\n`;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One value on one line: strings bare (quoted if they hold control characters), nested values as compact JSON. */
function inline(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return /[\x00-\x1f\x7f]/.test(value) ? JSON.stringify(value) : value;
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

function cut(text: string): { text: string; cut: boolean } {
  return text.length > CELL_MAX_CHARS ? { text: `${text.slice(0, CELL_MAX_CHARS - 1)}…`, cut: true } : { text, cut: false };
}

/** Rows of objects as columns named by their keys, in the order the keys first appear. */
function table(rows: Record<string, unknown>[]): string {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  let anyCut = false;
  const cells = rows.map((r) => columns.map((c) => {
    const shown = cut(Object.hasOwn(r, c) ? inline(r[c]) : '');
    anyCut ||= shown.cut;
    return shown.text;
  }));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd() + '\n';
  return line(columns) + cells.map(line).join('') + (anyCut ? CUT_NOTE : '');
}

function keyValues(object: Record<string, unknown>): string {
  const keys = Object.keys(object);
  if (keys.length === 0) return '{}\n';
  const width = Math.max(...keys.map((k) => k.length)) + 1;
  let anyCut = false;
  const lines = keys.map((k) => {
    const shown = cut(inline(object[k]));
    anyCut ||= shown.cut;
    return `${`${k}:`.padEnd(width)} ${shown.text}`.trimEnd() + '\n';
  });
  return lines.join('') + (anyCut ? CUT_NOTE : '');
}

/** The result as text for a terminal; null (a method with nothing to say) prints nothing. */
export function formatResult(result: unknown): string {
  if (result === null || result === undefined) return '';
  if (Array.isArray(result)) {
    if (result.length === 0) return '(none)\n';
    if (result.every(isPlainObject)) return table(result);
    if (result.every((v) => typeof v !== 'object' || v === null)) return result.map((v) => `${inline(v)}\n`).join('');
    return `${JSON.stringify(result, null, 2)}\n`;
  }
  if (isPlainObject(result)) return keyValues(result);
  return `${inline(result)}\n`;
}
