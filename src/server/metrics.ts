/**
 * Prometheus metrics for triton-vision-serve, under Triton's names, types and labels
 * (`nv_inference_*{model,version}`), so dashboards and alerts written for Triton's
 * metrics endpoint (port 8002, GET /metrics) work unchanged.
 *
 * Every value is read at scrape time from the statistics the backend already keeps
 * (the same rows as /v2/models/stats); nothing is counted twice. Durations are
 * cumulative microseconds, as Triton's.
 *
 * Failures are split by `reason` as Triton's (since 2.49 / core r24.08, so in the 2.51 we
 * check against: all four series for every model, zero until one happens): REJECTED, the request's deadline passed before its model ran
 * (Triton: its queue timeout); CANCELED, the caller cancelled or hung up after it reached
 * the model; BACKEND, onnxruntime failed to run it; OTHER, the rest (inputs the model
 * cannot take, a deadline passed while it ran). Requests refused before they reach a
 * model (bad JSON, an unknown model, --max-inflight: the frontend's gate, which has no
 * model yet) are not counted, as in Triton, whose frontends count none either.
 *
 * Differences from Triton, by design:
 * - When the server runs with a bearer token, /metrics asks for it too: model names and
 *   traffic are information an open port should not give away (Triton's metrics port
 *   has no authentication; Prometheus sends a token with `authorization.credentials`).
 * - No GPU, CPU, pinned-memory or pending-request metrics.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  FAILURE_REASONS,
  type FailureCounts,
  type FailureReason,
} from '../client/local/statistics';
import type { ModelStatistics } from '../protocol/types';
import { checkBearer } from './access';

/** The content type of the Prometheus text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The serve command's default metrics port, as Triton's. */
export const DEFAULT_METRICS_PORT = 8002;

/** The path metrics are served at, as Triton's. */
export const METRICS_PATH = '/metrics';

/** A statistics row, with its failures by reason when the source records them. */
export type MetricsRow = ModelStatistics & { failures?: FailureCounts };

interface MetricFamily {
  name: string;
  help: string;
  /** One sample per value of this label (the failure reasons), else one per row. */
  split?: { label: string; values: readonly string[] };
  value(s: MetricsRow, labelValue?: string): number;
}

/**
 * A row's failures with one reason: from the row's own split, or, for a source that
 * records no reasons, every failure as OTHER.
 */
function failuresWith(s: MetricsRow, reason: FailureReason): number {
  if (s.failures) return s.failures[reason];
  return reason === 'OTHER' ? s.inference_stats.fail.count : 0;
}

const us = (ns: number): number => Math.floor(ns / 1000);

/** Every family we serve: one place for names, help and where each value comes from. */
export const METRIC_FAMILIES: readonly MetricFamily[] = [
  {
    name: 'nv_inference_request_success',
    help: 'Number of inference requests that succeeded, any batch size',
    value: (s) => s.inference_stats.success.count,
  },
  {
    name: 'nv_inference_request_failure',
    help: 'Number of inference requests that failed, any batch size',
    split: { label: 'reason', values: FAILURE_REASONS },
    value: (s, reason) => failuresWith(s, reason as FailureReason),
  },
  {
    name: 'nv_inference_count',
    help: 'Number of inferences run (a batch of n counts n)',
    value: (s) => s.inference_count,
  },
  {
    name: 'nv_inference_exec_count',
    help: 'Number of model executions run (a batch counts once)',
    value: (s) => s.execution_count,
  },
  {
    name: 'nv_inference_request_duration_us',
    help: 'Cumulative duration of successful inference requests, in microseconds',
    value: (s) => us(s.inference_stats.success.ns),
  },
  {
    name: 'nv_inference_queue_duration_us',
    help: 'Cumulative time requests waited before their model ran, in microseconds',
    value: (s) => us(s.inference_stats.queue.ns),
  },
  {
    name: 'nv_inference_compute_input_duration_us',
    help: 'Cumulative time spent preparing model inputs, in microseconds',
    value: (s) => us(s.inference_stats.compute_input.ns),
  },
  {
    name: 'nv_inference_compute_infer_duration_us',
    help: 'Cumulative time spent running models, in microseconds',
    value: (s) => us(s.inference_stats.compute_infer.ns),
  },
  {
    name: 'nv_inference_compute_output_duration_us',
    help: 'Cumulative time spent gathering model outputs, in microseconds',
    value: (s) => us(s.inference_stats.compute_output.ns),
  },
];

/** A label value escaped as the exposition format asks (backslash, quote, newline). */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * The Prometheus text for these statistics rows: every family with its HELP and TYPE
 * (counters, all of them), one sample per (model, version).
 */
export function renderMetrics(rows: readonly MetricsRow[]): string {
  const lines: string[] = [];
  const sample = (name: string, labels: Record<string, string>, value: number): string => {
    // Label names in order, as Triton writes them.
    const text = Object.entries(labels)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}="${labelValue(v)}"`)
      .join(',');
    return `${name}{${text}} ${value}`;
  };
  for (const f of METRIC_FAMILIES) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} counter`);
    for (const s of rows) {
      const labels = { model: s.name, version: s.version };
      if (!f.split) {
        lines.push(sample(f.name, labels, f.value(s)));
        continue;
      }
      for (const v of f.split.values) {
        lines.push(sample(f.name, { ...labels, [f.split.label]: v }, f.value(s, v)));
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * What the metrics endpoint reads: the statistics of every ready model version, with
 * failures by reason when the backend records them (LocalClient.metricsStatistics).
 */
export interface MetricsSource {
  modelStatistics(): Promise<MetricsRow[]>;
}

export interface MetricsFrontendOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** When set, GET /metrics must carry `Authorization: Bearer <authToken>` (else 401). */
  authToken?: string;
}

export interface MetricsFrontend {
  port: number;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: string, type: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Serves GET /metrics on its own port, as Triton's metrics service. */
export function startMetricsFrontend(
  source: MetricsSource,
  opts: MetricsFrontendOptions,
): Promise<MetricsFrontend> {
  const token = opts.authToken;
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url !== METRICS_PATH) {
      send(res, 404, `Not found: metrics are at ${METRICS_PATH}\n`, 'text/plain; charset=utf-8');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, `Method ${req.method} not allowed: use GET\n`, 'text/plain; charset=utf-8');
      return;
    }
    if (token !== undefined) {
      const denied = checkBearer(req.headers.authorization, token);
      if (denied) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        send(res, 401, `${denied.message}\n`, 'text/plain; charset=utf-8');
        return;
      }
    }
    source.modelStatistics().then(
      (rows) => send(res, 200, renderMetrics(rows), METRICS_CONTENT_TYPE),
      (err: Error) =>
        send(res, 500, `Cannot read statistics: ${err.message}\n`, 'text/plain; charset=utf-8'),
    );
  });
  // Scrapes are short: idle keep-alive sockets must not hold close() up.
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
