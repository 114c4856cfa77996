/**
 * Decides which server the remote transports of an integration suite talk to.
 *
 * By default the suite starts its own `triton-vision-serve` on loopback. When
 * `TRITON_URL` (http://host:port) and/or `TRITON_GRPC_URL` (grpc://host:port or
 * host:port) are set, that transport goes to the given server instead: NVIDIA's
 * real tritonserver, which `npm run test:triton` starts with
 * test/triton/serve_fixtures.py. A transport without a URL still gets our own
 * server, started once and shared.
 *
 * An external server is taken to be real Triton serving the fixture repository
 * (test/support/fixtures.ts FIXTURE_REPOSITORY). `TRITON_FIXTURE_BACKEND` says
 * which Triton backend runs the fixture models there: `python` (the default:
 * serve_fixtures.py runs each ONNX file through Triton's Python backend, the
 * only backend pip ships) or `onnxruntime` (a full Triton with its ORT backend).
 */
import { buildFixtureRepository } from './fixtures';
import { startServe, type ServeHandle } from './serve';

export type RemoteMode = 'grpc' | 'http';

/** Who answers on an endpoint; the expectations that legitimately differ hang off this. */
export type ServerKind = 'triton' | 'triton-vision-serve';

export interface Endpoint {
  mode: RemoteMode;
  host: string;
  port: number;
  kind: ServerKind;
  /** `http://host:port` or `grpc://host:port`, for messages. */
  url: string;
}

export interface FixtureExpectations {
  /** `name` in server metadata. */
  serverName: string;
  /** `platform` in model metadata for a fixture model. */
  metadataPlatform: string;
  /** `platform` in the model config of yolov8n (whose config.pbtxt names platform onnxruntime_onnx). */
  configPlatform: string;
  /** `backend` in the model config of yolov8n. */
  configBackend: string;
  /**
   * Whether unload returns before the model is gone (real Triton: it answers at once and
   * the model is UNLOADING for a while; ours unloads before answering).
   */
  asyncUnload: boolean;
}

export interface RemoteEndpoints {
  grpc: Endpoint;
  http: Endpoint;
  /** The repository our own server (if started) and local mode serve. */
  repository: string;
  /** Our server, when at least one transport uses it. */
  serve?: ServeHandle;
  /** Stops our server if this helper started it. */
  stop(): Promise<void>;
}

/** Parses `http://h:p`, `grpc://h:p` or a bare `h:p` into host and port. */
export function parseEndpointUrl(value: string, mode: RemoteMode): { host: string; port: number } {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `${mode}://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`'${value}' is not a ${mode} server address (use ${mode}://host:port)`);
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme !== mode) {
    throw new Error(`'${value}' is not a ${mode} address: use ${mode}://host:port`);
  }
  const port = Number(url.port || (mode === 'grpc' ? 8001 : 8000));
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port };
}

/** The external endpoints named by the environment (none when the variables are unset). */
export function externalEndpoints(
  env: NodeJS.ProcessEnv = process.env,
): Partial<Record<RemoteMode, Endpoint>> {
  const out: Partial<Record<RemoteMode, Endpoint>> = {};
  const vars: [RemoteMode, string | undefined][] = [
    ['http', env.TRITON_URL],
    ['grpc', env.TRITON_GRPC_URL],
  ];
  for (const [mode, value] of vars) {
    if (!value) continue;
    const { host, port } = parseEndpointUrl(value, mode);
    out[mode] = { mode, host, port, kind: 'triton', url: `${mode}://${host}:${port}` };
  }
  return out;
}

/** True when at least one transport goes to an external (real Triton) server. */
export function usingRealTriton(env: NodeJS.ProcessEnv = process.env): boolean {
  return Object.keys(externalEndpoints(env)).length > 0;
}

/** What a client sees from `kind` when it serves the fixture repository. */
export function fixtureExpectations(
  kind: ServerKind,
  env: NodeJS.ProcessEnv = process.env,
): FixtureExpectations {
  if (kind === 'triton-vision-serve') {
    return {
      serverName: 'triton-vision-serve',
      metadataPlatform: 'onnxruntime_onnx',
      configPlatform: 'onnxruntime_onnx',
      // Filled in from the platform, as Triton does.
      configBackend: 'onnxruntime',
      asyncUnload: false,
    };
  }
  const backend = env.TRITON_FIXTURE_BACKEND ?? 'python';
  if (backend !== 'python' && backend !== 'onnxruntime') {
    throw new Error(`TRITON_FIXTURE_BACKEND must be python or onnxruntime, got '${backend}'`);
  }
  return backend === 'python'
    ? {
        serverName: 'triton',
        metadataPlatform: 'python',
        // serve_fixtures.py replaces the platform line by `backend: "python"`.
        configPlatform: '',
        configBackend: 'python',
        asyncUnload: true,
      }
    : {
        serverName: 'triton',
        metadataPlatform: 'onnxruntime_onnx',
        configPlatform: 'onnxruntime_onnx',
        configBackend: 'onnxruntime',
        asyncUnload: true,
      };
}

/**
 * The endpoints for a suite: external ones from the environment, our own
 * `triton-vision-serve` (over `repository`, default a fresh fixture repository)
 * for the rest.
 */
export async function openRemoteEndpoints(
  repository: string = buildFixtureRepository(),
  env: NodeJS.ProcessEnv = process.env,
): Promise<RemoteEndpoints> {
  const external = externalEndpoints(env);
  let serve: ServeHandle | undefined;
  // The suite loads and unloads models through the repository API, as against Triton
  // started with --model-control-mode explicit.
  if (!external.http || !external.grpc) {
    serve = await startServe({ repository, extraArgs: ['--model-control-mode', 'explicit'] });
  }
  const ours = (mode: RemoteMode): Endpoint => {
    const port = mode === 'grpc' ? serve!.grpcPort : serve!.httpPort;
    return {
      mode,
      host: serve!.host,
      port,
      kind: 'triton-vision-serve',
      url: `${mode}://${serve!.host}:${port}`,
    };
  };
  return {
    grpc: external.grpc ?? ours('grpc'),
    http: external.http ?? ours('http'),
    repository,
    ...(serve ? { serve } : {}),
    stop: async () => {
      await serve?.stop();
    },
  };
}
