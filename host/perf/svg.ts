// The latency histogram of a `wstor perf` run as a standalone SVG: one bar per histogram bucket on a
// log time axis, axes labelled in ns/µs/ms/s, and the percentiles drawn as labelled vertical lines.
import { bucketEndNs, histogramTotal, type Histogram } from './report.js';

export interface SvgMarker {
  /** e.g. "p99.9" */
  label: string;
  ns: number;
}

export interface LatencySvgOptions {
  title: string;
  subtitle: string;
  hist: Histogram;
  markers: readonly SvgMarker[];
}

const WIDTH = 960;
const HEIGHT = 540;
const PLOT = { left: 90, right: WIDTH - 30, top: 110, bottom: HEIGHT - 80 } as const;
const BAR_COLOR = '#4a7ab5';
const GRID_COLOR = '#e3e3e3';
const MARKER_COLORS = ['#2ca02c', '#ff7f0e', '#d62728', '#9467bd', '#8c564b'];
/** Never zoom in further than half a decade, so a narrow histogram still has ticks and context. */
const MIN_SPAN_DECADES = 0.5;
const MIN_BAR_HEIGHT = 2;

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

/** A duration in ns as a short label with its unit: 850 ns, 12.3 µs, 1.5 ms, 2 s. */
export function formatDurationNs(ns: number): string {
  const units: [number, string][] = [[1e9, 's'], [1e6, 'ms'], [1e3, 'µs'], [1, 'ns']];
  const rounded = Number(ns.toPrecision(3));            // 999.7 ns is "1 µs", not "1000 ns"
  const [scale, unit] = units.find(([s]) => rounded >= s) ?? [1, 'ns'];
  return `${Number((rounded / scale).toPrecision(3))} ${unit}`;
}

function formatCount(n: number): string {
  if (n < 10_000) return String(n);
  const [scale, suffix] = n >= 1e9 ? [1e9, 'G'] : n >= 1e6 ? [1e6, 'M'] : [1e3, 'k'];
  return `${Number((n / scale).toPrecision(3))}${suffix}`;
}

const f = (x: number) => x.toFixed(1);

interface Axis { loLog: number; hiLog: number; x(ns: number): number }

/** Log axis over the occupied buckets, padded a little and at least MIN_SPAN_DECADES wide. */
function timeAxis(h: Histogram, first: number, last: number): Axis {
  const lo = Math.max(h.bucketStartNs[first], 0.5);
  const end = bucketEndNs(h, last);
  const hi = Number.isFinite(end) ? end : h.bucketStartNs[last] * 2;
  let loLog = Math.log10(lo), hiLog = Math.log10(hi);
  const missing = MIN_SPAN_DECADES - (hiLog - loLog);
  if (missing > 0) { loLog -= missing / 2; hiLog += missing / 2; }
  const pad = (hiLog - loLog) * 0.04;
  loLog -= pad;
  hiLog += pad;
  const x = (ns: number) => PLOT.left + ((Math.log10(Math.max(ns, 0.5)) - loLog) / (hiLog - loLog)) * (PLOT.right - PLOT.left);
  return { loLog, hiLog, x };
}

/** Tick values (ns) inside the axis: decades when it is wide, 1-2-5 or every digit when it is narrow. */
function timeTicks(a: Axis): { major: number[]; minor: number[] } {
  const span = a.hiLog - a.loLog;
  const mantissas = span > 4 ? [1] : span > 1.5 ? [1, 2, 5] : [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const major: number[] = [], minor: number[] = [];
  for (let k = Math.floor(a.loLog); k <= Math.ceil(a.hiLog); k++) {
    for (let m = 1; m <= 9; m++) {
      const v = m * 10 ** k;
      const log = Math.log10(v);
      if (log < a.loLog || log > a.hiLog) continue;
      (mantissas.includes(m) ? major : minor).push(v);
    }
  }
  return { major, minor };
}

/** A round step for about five count ticks, and the axis top as a whole number of steps. */
function countAxis(maxCount: number): { step: number; top: number } {
  const raw = Math.max(maxCount / 5, 1);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) as number;
  return { step, top: Math.max(Math.ceil(maxCount / step), 1) * step };
}

export function latencyHistogramSvg(o: LatencySvgOptions): string {
  const h = o.hist;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ` +
      'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="30" text-anchor="middle" font-size="18" font-weight="bold">${escapeXml(o.title)}</text>`,
    `<text x="${WIDTH / 2}" y="54" text-anchor="middle" font-size="13" fill="#444">${escapeXml(o.subtitle)}</text>`,
  ];
  const first = h.counts.findIndex((c) => c > 0);
  if (first < 0 || histogramTotal(h) === 0) {
    out.push(`<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="#888"/>`);
    out.push(`<text x="${WIDTH / 2}" y="${(PLOT.top + PLOT.bottom) / 2}" text-anchor="middle" font-size="16" fill="#888">` +
      'no I/O completed: nothing to plot</text>');
    out.push('</svg>');
    return out.join('\n') + '\n';
  }
  let last = first;
  for (let i = first; i < h.counts.length; i++) if (h.counts[i] > 0) last = i;
  const axis = timeAxis(h, first, last);
  const maxCount = Math.max(...h.counts.slice(first, last + 1));
  const counts = countAxis(maxCount);
  const y = (n: number) => PLOT.bottom - (n / counts.top) * (PLOT.bottom - PLOT.top);

  out.push(...gridAndAxes(axis, counts, y));
  out.push(...bars(h, first, last, axis, y));
  out.push(...markers(o.markers, axis));
  out.push(`<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="#888"/>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function gridAndAxes(axis: Axis, counts: { step: number; top: number }, y: (n: number) => number): string[] {
  const out: string[] = [];
  const ticks = timeTicks(axis);
  for (const v of ticks.minor) {
    out.push(`<line x1="${f(axis.x(v))}" y1="${PLOT.top}" x2="${f(axis.x(v))}" y2="${PLOT.bottom}" stroke="${GRID_COLOR}" stroke-width="0.5"/>`);
  }
  for (const v of ticks.major) {
    const x = f(axis.x(v));
    out.push(`<line x1="${x}" y1="${PLOT.top}" x2="${x}" y2="${PLOT.bottom + 5}" stroke="${GRID_COLOR}"/>`);
    out.push(`<text x="${x}" y="${PLOT.bottom + 20}" text-anchor="middle" font-size="12">${escapeXml(formatDurationNs(v))}</text>`);
  }
  for (let n = 0; n <= counts.top; n += counts.step) {
    out.push(`<line x1="${PLOT.left - 5}" y1="${f(y(n))}" x2="${PLOT.right}" y2="${f(y(n))}" stroke="${GRID_COLOR}"/>`);
    out.push(`<text x="${PLOT.left - 9}" y="${f(y(n) + 4)}" text-anchor="end" font-size="12">${formatCount(n)}</text>`);
  }
  const midY = (PLOT.top + PLOT.bottom) / 2;
  out.push(`<text x="${(PLOT.left + PLOT.right) / 2}" y="${PLOT.bottom + 48}" text-anchor="middle" font-size="13">latency (log scale)</text>`);
  out.push(`<text x="22" y="${midY}" text-anchor="middle" font-size="13" transform="rotate(-90 22 ${midY})">I/Os per bucket</text>`);
  return out;
}

function bars(h: Histogram, first: number, last: number, axis: Axis, y: (n: number) => number): string[] {
  const out: string[] = [];
  for (let i = first; i <= last; i++) {
    const n = h.counts[i];
    if (n === 0) continue;
    const startNs = h.bucketStartNs[i];
    const endNs = Number.isFinite(bucketEndNs(h, i)) ? bucketEndNs(h, i) : startNs * 2;
    const x0 = axis.x(startNs), x1 = axis.x(endNs);
    const width = x1 - x0 > 3 ? x1 - x0 - 1 : Math.max(x1 - x0, 0.5);
    const range = `${formatDurationNs(startNs)} – ${formatDurationNs(endNs)}: ${n} I/Os`;
    // A bucket of a few I/Os next to one of millions still shows: the tail is what people look for.
    const height = Math.max(PLOT.bottom - y(n), MIN_BAR_HEIGHT);
    out.push(`<rect x="${f(x0)}" y="${f(PLOT.bottom - height)}" width="${f(width)}" height="${f(height)}" fill="${BAR_COLOR}">` +
      `<title>${escapeXml(range)}</title></rect>`);
  }
  return out;
}

/** Dashed vertical lines; labels stacked at the top so close percentiles stay readable. */
function markers(list: readonly SvgMarker[], axis: Axis): string[] {
  const out: string[] = [];
  list.forEach((m, i) => {
    const color = MARKER_COLORS[i % MARKER_COLORS.length];
    const x = axis.x(m.ns);
    const label = `${m.label} ${formatDurationNs(m.ns)}`;
    const nearRight = x > PLOT.right - 130;
    const tx = nearRight ? x - 5 : x + 5;
    const ty = PLOT.top + 16 + i * 17;
    out.push(`<g class="percentile" data-percentile="${escapeXml(m.label)}">`);
    out.push(`<line x1="${f(x)}" y1="${PLOT.top}" x2="${f(x)}" y2="${PLOT.bottom}" stroke="${color}" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    // A white halo keeps the label readable over bars and grid lines.
    out.push(`<text x="${f(tx)}" y="${ty}" text-anchor="${nearRight ? 'end' : 'start'}" font-size="12" font-weight="bold" ` +
      `fill="${color}" stroke="white" stroke-width="3" paint-order="stroke">${escapeXml(label)}</text>`);
    out.push('</g>');
  });
  return out;
}
