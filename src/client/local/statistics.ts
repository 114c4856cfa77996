/**
 * Per-model, per-version inference statistics in Triton's shape: counts and cumulative
 * durations of the success, fail, queue and compute phases.
 */
import type { ModelStatistics, StatisticDuration } from '../../protocol/types';

export interface StatsRecord {
  last_inference: number;
  inference_count: number;
  execution_count: number;
  success: StatisticDuration;
  fail: StatisticDuration;
  queue: StatisticDuration;
  compute_input: StatisticDuration;
  compute_infer: StatisticDuration;
  compute_output: StatisticDuration;
}

const zero = (): StatisticDuration => ({ count: 0, ns: 0 });
const newStats = (): StatsRecord => ({
  last_inference: 0,
  inference_count: 0,
  execution_count: 0,
  success: zero(),
  fail: zero(),
  queue: zero(),
  compute_input: zero(),
  compute_infer: zero(),
  compute_output: zero(),
});

/** Counts one event of `d` lasting from `startNs` to `endNs` (now by default). */
export function add(d: StatisticDuration, startNs: bigint, endNs = process.hrtime.bigint()): void {
  d.count += 1;
  d.ns += Number(endNs - startNs);
}

const statsKey = (model: string, version: string): string => `${model}\u0000${version}`;

/** The records of every (model, version) that has been asked about or used. */
export class Statistics {
  private readonly records = new Map<string, StatsRecord>();

  /** The record of one version, created on first use. */
  recordFor(model: string, version: string): StatsRecord {
    const key = statsKey(model, version);
    let r = this.records.get(key);
    if (!r) {
      r = newStats();
      this.records.set(key, r);
    }
    return r;
  }

  has(model: string, version: string): boolean {
    return this.records.has(statsKey(model, version));
  }

  /** Triton's statistics rows for these (model, version) pairs (zeros where unused). */
  report(pairs: readonly [string, string][]): ModelStatistics[] {
    return pairs.map(([name, v]) => {
      const r = this.records.get(statsKey(name, v)) ?? newStats();
      return {
        name,
        version: v,
        last_inference: r.last_inference,
        inference_count: r.inference_count,
        execution_count: r.execution_count,
        inference_stats: structuredClone({
          success: r.success,
          fail: r.fail,
          queue: r.queue,
          compute_input: r.compute_input,
          compute_infer: r.compute_infer,
          compute_output: r.compute_output,
        }),
      };
    });
  }
}
