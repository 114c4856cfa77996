/** Summaries the benches print: medians, percentiles and the machine's load. */
import * as os from 'node:os';

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The value `p` per cent of the way up the sorted values (nearest rank); NaN for none. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] ?? NaN;
}

/** The 1, 5 and 15 minute load averages, `digits` decimals each: this machine may be shared. */
export function loadAverage(digits = 1): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(digits))
    .join(' ');
}
