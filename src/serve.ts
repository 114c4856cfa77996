#!/usr/bin/env node
/**
 * triton-vision-serve: a KServe v2 server (HTTP + gRPC) over the in-process
 * onnxruntime backend. The embedded default for people without a GPU or Docker,
 * and the real server process our tests talk to.
 */
import { parseArgs } from 'node:util';
import { LocalClient, describeRuntime } from './client/local';
import { startGrpcFrontend } from './server/grpc-frontend';
import { startHttpFrontend } from './server/http-frontend';
import {
  AUTH_TOKEN_ENV,
  DEFAULT_MODEL_CONTROL_MODE,
  MODEL_CONTROL_MODES,
  isLoopback,
  type ModelControlMode,
} from './server/access';
import { DEFAULT_MAX_INFLIGHT } from './server/request-limits';
import { DEFAULT_METRICS_PORT, METRICS_PATH, startMetricsFrontend } from './server/metrics';

const USAGE = `Usage: triton-vision-serve --model-repository DIR [options]

  --model-repository DIR   Triton model repository: DIR/<model>/config.pbtxt and
                           DIR/<model>/<version>/model.onnx
  --host ADDR              address to listen on (default 127.0.0.1; 0.0.0.0 for all)
  --http-port N            HTTP/REST port (default 8000; 0 picks a free port)
  --grpc-port N            gRPC port (default 8001; 0 picks a free port)
  --metrics-port N         Prometheus metrics port, GET ${METRICS_PATH} (default ${DEFAULT_METRICS_PORT}, as
                           Triton; 0 picks a free port, and is the default when --http-port is 0)
  --allow-http BOOL        serve HTTP (default true)
  --allow-grpc BOOL        serve gRPC (default true)
  --allow-metrics BOOL     serve Prometheus metrics (default true)
  --max-message-mb N       largest request/response in MiB (default 256)
  --max-inflight N         infer and repository requests in progress at once; more are
                           answered 503 / UNAVAILABLE at once (default ${DEFAULT_MAX_INFLIGHT})
  --model-control-mode M   none (default): every model is loaded at start and the
                           repository API cannot load or unload; explicit: it can
  --auth-token TOKEN       require Authorization: Bearer TOKEN on every request, HTTP,
                           gRPC and metrics (or set ${AUTH_TOKEN_ENV}; the variable keeps the
                           token out of the process list)
  --intra-op-threads N     onnxruntime threads per model (default: onnxruntime's choice)
  --worker-threads N       threads that run models, so runs can overlap (default 1)
  -h, --help               show this help

Every model is loaded at start. As Triton, load/unload through the repository API
are refused unless --model-control-mode explicit. Listening on an address other
than loopback exposes every endpoint to the network: set a token.`;

function fail(message: string, code = 2): never {
  process.stderr.write(`triton-vision-serve: ${message}\n`);
  process.exit(code);
}

function portArg(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    fail(`--${name} must be a port number 0-65535, got '${value}'`);
  return n;
}

function boolArg(name: string, value: string | undefined): boolean {
  if (value === undefined || value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return fail(`--${name} must be true or false, got '${value}'`);
}

async function main(): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        'model-repository': { type: 'string' },
        host: { type: 'string' },
        'http-port': { type: 'string' },
        'grpc-port': { type: 'string' },
        'allow-http': { type: 'string' },
        'allow-grpc': { type: 'string' },
        'metrics-port': { type: 'string' },
        'allow-metrics': { type: 'string' },
        'max-message-mb': { type: 'string' },
        'max-inflight': { type: 'string' },
        'model-control-mode': { type: 'string' },
        'auth-token': { type: 'string' },
        'intra-op-threads': { type: 'string' },
        'worker-threads': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const repo = values['model-repository'];
  if (typeof repo !== 'string' || repo === '') fail(`--model-repository is required\n\n${USAGE}`);
  const host = (values.host as string | undefined) ?? '127.0.0.1';
  const httpPort = portArg('http-port', values['http-port'] as string | undefined, 8000);
  const grpcPort = portArg('grpc-port', values['grpc-port'] as string | undefined, 8001);
  const allowHttp = boolArg('allow-http', values['allow-http'] as string | undefined);
  const allowGrpc = boolArg('allow-grpc', values['allow-grpc'] as string | undefined);
  // A server asked for a free HTTP port (tests, several on one machine) gets a free
  // metrics port too, rather than all of them fighting over 8002.
  const metricsPort = portArg(
    'metrics-port',
    values['metrics-port'] as string | undefined,
    httpPort === 0 ? 0 : DEFAULT_METRICS_PORT,
  );
  const allowMetrics = boolArg('allow-metrics', values['allow-metrics'] as string | undefined);
  if (!allowHttp && !allowGrpc)
    fail('--allow-http false and --allow-grpc false leave nothing to serve');
  const maxMb = Number(values['max-message-mb'] ?? 256);
  if (!(maxMb > 0))
    fail(`--max-message-mb must be a positive number, got '${values['max-message-mb']}'`);
  const maxBytes = Math.floor(maxMb * 1024 * 1024);
  const maxInflight = Number(values['max-inflight'] ?? DEFAULT_MAX_INFLIGHT);
  if (!(Number.isInteger(maxInflight) && maxInflight >= 1)) {
    fail(`--max-inflight must be a whole number ≥ 1, got '${values['max-inflight']}'`);
  }
  const modelControl = (
    (values['model-control-mode'] as string | undefined) ?? DEFAULT_MODEL_CONTROL_MODE
  ).toLowerCase() as ModelControlMode;
  if (!MODEL_CONTROL_MODES.includes(modelControl)) {
    fail(
      `--model-control-mode must be ${MODEL_CONTROL_MODES.join(' or ')}, got '${values['model-control-mode']}'`,
    );
  }
  const authToken =
    (values['auth-token'] as string | undefined) ?? process.env[AUTH_TOKEN_ENV] ?? undefined;
  if (authToken !== undefined && !/^\S+$/.test(authToken)) {
    fail(`the auth token must be non-empty and without spaces`);
  }
  const threads =
    values['intra-op-threads'] === undefined ? undefined : Number(values['intra-op-threads']);
  const workers =
    values['worker-threads'] === undefined ? undefined : Number(values['worker-threads']);
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1)) {
    fail(`--worker-threads must be a whole number ≥ 1, got '${values['worker-threads']}'`);
  }

  const backend = new LocalClient({
    modelRepository: repo,
    load: 'all',
    ...(threads !== undefined && threads > 0 ? { intraOpNumThreads: threads } : {}),
    ...(workers !== undefined ? { workerThreads: workers } : {}),
  });
  const index = await backend.repositoryIndex();
  const runtime = await backend.runtimeInfo().then(
    (info) => describeRuntime(info) + (info.note ? `; ${info.note}` : ''),
    (err: Error) => `none: ${err.message}`,
  );
  process.stdout.write(`runtime ${runtime}\n`);
  for (const m of index) {
    const why = m.state === 'READY' ? '' : ` (${m.reason ?? 'not loaded'})`;
    process.stdout.write(`model ${m.name} version ${m.version ?? '-'}: ${m.state}${why}\n`);
  }

  const closers: (() => Promise<void>)[] = [];
  try {
    if (allowHttp) {
      const http = await startHttpFrontend(backend, {
        host,
        port: httpPort,
        maxBodyBytes: maxBytes,
        maxInflight,
        modelControl,
        ...(authToken !== undefined ? { authToken } : {}),
      });
      closers.push(() => http.close());
      process.stdout.write(`HTTP service at http://${host}:${http.port}\n`);
    }
    if (allowGrpc) {
      const grpc = await startGrpcFrontend(backend, {
        host,
        port: grpcPort,
        maxMessageBytes: maxBytes,
        maxInflight,
        modelControl,
        ...(authToken !== undefined ? { authToken } : {}),
      });
      closers.push(() => grpc.close());
      process.stdout.write(`gRPC service at ${host}:${grpc.port}\n`);
    }
    if (allowMetrics) {
      const metrics = await startMetricsFrontend(
        { modelStatistics: () => backend.metricsStatistics() },
        { host, port: metricsPort, ...(authToken !== undefined ? { authToken } : {}) },
      );
      closers.push(() => metrics.close());
      process.stdout.write(`Metrics service at http://${host}:${metrics.port}${METRICS_PATH}\n`);
    }
  } catch (err) {
    await Promise.allSettled(closers.map((c) => c()));
    await backend.close();
    fail(`cannot start: ${(err as Error).message}`, 1);
  }
  if (!isLoopback(host)) {
    process.stderr.write(
      `triton-vision-serve: warning: listening on ${host}, reachable from other machines: ${
        authToken === undefined
          ? `anyone who can connect can run the models${modelControl === 'explicit' ? ' and load or unload them' : ''}; set --auth-token or ${AUTH_TOKEN_ENV}`
          : 'requests need the bearer token, but travel unencrypted: keep the network trusted or put TLS in front'
      }\n`,
    );
  }
  process.stdout.write(
    `triton-vision-serve ready: ${index.length} model(s) from ${repo} (model control: ${modelControl}${authToken !== undefined ? ', bearer token required' : ''})\n`,
  );

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`triton-vision-serve: ${signal}, shutting down\n`);
    void Promise.allSettled(closers.map((c) => c()))
      .then(() => backend.close())
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err), 1));
