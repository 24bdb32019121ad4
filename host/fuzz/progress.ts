// The runner's status output, on stderr like libFuzzer's: "#execs EVENT cov: edges ft: features
// corp: inputs/bytes exec/s: rate findings: n". On a TTY one line rewritten in place (at most four
// times a second); otherwise plain lines for INITED, NEW, each power-of-two pulse and DONE.
export interface ProgressStats { execs: number; edges: number; features: number; inputs: number; bytes: number; findings: number; seconds: number }

const REDRAW_MS = 250;

export class Progress {
  private lastDraw = 0;
  private nextPulse = 1 << 10;
  private drawn = false;

  constructor(private readonly out: { write(s: string): unknown; isTTY?: boolean }) {}

  private format(event: string, s: ProgressStats): string {
    const rate = s.seconds > 0 ? Math.round(s.execs / s.seconds) : 0;
    return `#${s.execs}\t${event.padEnd(6)} cov: ${s.edges} ft: ${s.features} corp: ${s.inputs}/${s.bytes}b exec/s: ${rate} findings: ${s.findings}`;
  }

  /** An event worth a line of its own off a TTY (INITED, NEW, DONE); on a TTY the status line. */
  event(event: string, s: ProgressStats): void {
    if (this.out.isTTY) { if (event === 'DONE') this.draw(event, s, true); else this.tick(s); return; }
    this.out.write(`${this.format(event, s)}\n`);
  }

  /** Called as execs go up: the in-place line on a TTY, pulse lines at powers of two otherwise. */
  tick(s: ProgressStats): void {
    if (this.out.isTTY) { if (Date.now() - this.lastDraw >= REDRAW_MS) this.draw('pulse', s, false); return; }
    while (s.execs >= this.nextPulse) {
      this.out.write(`${this.format('pulse', { ...s, execs: this.nextPulse })}\n`);
      this.nextPulse *= 2;
    }
  }

  /** A line that stays (a finding, a note): on a TTY it goes above the status line. */
  note(text: string): void {
    if (this.out.isTTY && this.drawn) this.out.write('\r\x1b[K');
    this.out.write(`${text}\n`);
    this.drawn = false;
  }

  private draw(event: string, s: ProgressStats, final: boolean): void {
    this.out.write(`\r\x1b[K${this.format(event, s)}${final ? '\n' : ''}`);
    this.lastDraw = Date.now();
    this.drawn = !final;
  }
}
