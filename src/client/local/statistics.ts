/**
 * Per-model, per-version inference statistics in Triton's shape: counts and cumulative
 * durations of the success, fail, queue and compute phases, and why requests failed (the
 * `reason` label of Triton's nv_inference_request_failure metric).
 */
import { isTritonError } from '../../protocol/errors';
import type { ModelStatistics, StatisticDuration } from '../../protocol/types';

/**
 * Triton's failure reasons (core's FailureReason): REJECTED, the scheduler turned the
 * request away (its queue timeout expired, the queue was full); CANCELED, the caller
 * cancelled it; BACKEND, the model's execution failed; OTHER, anything else (a request
 * the model cannot take, outputs that cannot be sent).
 */
export const FAILURE_REASONS = ['REJECTED', 'CANCELED', 'BACKEND', 'OTHER'] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** Where an inference request was when it failed. */
export type RequestPhase = 'queued' | 'running' | 'finishing';

/**
 * Why a request that reached a model failed, as Triton counts it: cancelled by the
 * caller anywhere; its deadline passed before the model ran (Triton's queue timeout);
 * the runtime failed while running it; anything else.
 */
export function failureReason(err: unknown, phase: RequestPhase): FailureReason {
  const code = isTritonError(err) ? err.code : undefined;
  if (code === 'CANCELLED') return 'CANCELED';
  if (code === 'TIMEOUT') return phase === 'queued' ? 'REJECTED' : 'OTHER';
  return phase === 'running' ? 'BACKEND' : 'OTHER';
}

/** Failed requests per reason. */
export type FailureCounts = Record<FailureReason, number>;

/** A statistics row with its failures by reason: what the metrics endpoint exports. */
export interface ModelStatisticsWithReasons extends ModelStatistics {
  failures: FailureCounts;
}

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
  /** fail.count split by reason. */
  failures: FailureCounts;
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
  failures: { REJECTED: 0, CANCELED: 0, BACKEND: 0, OTHER: 0 },
});

/** Counts one event of `d` lasting from `startNs` to `endNs` (now by default). */
export function add(d: StatisticDuration, startNs: bigint, endNs = process.hrtime.bigint()): void {
  d.count += 1;
  d.ns += Number(endNs - startNs);
}

/** Counts one failed request that arrived at `startNs`, with its reason. */
export function addFailure(r: StatsRecord, reason: FailureReason, startNs: bigint): void {
  add(r.fail, startNs);
  r.failures[reason] += 1;
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
    return this.reportWithReasons(pairs).map(({ failures: _failures, ...row }) => row);
  }

  /** The same rows, each with its failures by reason, read at the same moment. */
  reportWithReasons(pairs: readonly [string, string][]): ModelStatisticsWithReasons[] {
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
        failures: { ...r.failures },
      };
    });
  }
}
