/**
 * Prometheus metrics for triton-vision-serve, under Triton's names, types and labels
 * (`nv_inference_*{model,version}`), so dashboards and alerts written for Triton's
 * metrics endpoint (port 8002, GET /metrics) work unchanged.
 *
 * Every value is read at scrape time from the statistics the backend already keeps
 * (the same rows as /v2/models/stats); nothing is counted twice. Durations are
 * cumulative microseconds, as Triton's.
 *
 * Differences from Triton, by design:
 * - The local backend does not record why a request failed, so all failures are one
 *   series with `reason="OTHER"` (Triton splits REJECTED, CANCELED, BACKEND, OTHER).
 *   Requests refused before they reach a model (bad JSON, --max-inflight) are not
 *   counted, as in Triton.
 * - When the server runs with a bearer token, /metrics asks for it too: model names and
 *   traffic are information an open port should not give away (Triton's metrics port
 *   has no authentication; Prometheus sends a token with `authorization.credentials`).
 * - No GPU, CPU, pinned-memory or pending-request metrics.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ModelStatistics } from '../protocol/types';
import { checkBearer } from './access';

/** The content type of the Prometheus text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The serve command's default metrics port, as Triton's. */
export const DEFAULT_METRICS_PORT = 8002;

/** The path metrics are served at, as Triton's. */
export const METRICS_PATH = '/metrics';

interface MetricFamily {
  name: string;
  help: string;
  /** Extra labels after model and version, with their value for this server. */
  extra?: Record<string, string>;
  value(s: ModelStatistics): number;
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
    extra: { reason: 'OTHER' },
    value: (s) => s.inference_stats.fail.count,
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
export function renderMetrics(rows: readonly ModelStatistics[]): string {
  const lines: string[] = [];
  for (const f of METRIC_FAMILIES) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} counter`);
    for (const s of rows) {
      const labels = { model: s.name, version: s.version, ...f.extra };
      // Label names in order, as Triton writes them.
      const text = Object.entries(labels)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => `${k}="${labelValue(v)}"`)
        .join(',');
      lines.push(`${f.name}{${text}} ${f.value(s)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** What the metrics endpoint reads: the statistics of every ready model version. */
export interface MetricsSource {
  modelStatistics(): Promise<ModelStatistics[]>;
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
