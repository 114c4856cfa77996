/**
 * Client factory: one place that turns user-facing settings (a config node, a CLI
 * URL) into an InferenceClient for the chosen transport.
 */
import { TritonError } from '../protocol/errors';
import { GrpcClient } from './grpc';
import { HttpClient } from './http';
import { LocalClient } from './local';
import type { InferenceClient, LocalClientOptions, RemoteClientOptions } from '../protocol/types';

export type ClientOptions =
  | ({ mode: 'grpc' } & RemoteClientOptions)
  | ({ mode: 'http' } & RemoteClientOptions)
  | ({ mode: 'local' } & LocalClientOptions);

export function createClient(options: ClientOptions): InferenceClient {
  switch (options.mode) {
    case 'grpc':
      return new GrpcClient(options);
    case 'http':
      return new HttpClient(options);
    case 'local':
      return new LocalClient(options);
    default:
      throw new TritonError(
        'INVALID_CONFIG',
        `Unknown client mode '${String((options as { mode?: unknown }).mode)}': use grpc, http or local`,
      );
  }
}

/**
 * Parses a server URL: `grpc://host:8001`, `grpcs://host:8001` (TLS), `http://host:8000`,
 * `https://host:8000`, or a bare `host:port` (gRPC). The port defaults to 8001 for gRPC
 * and 8000 for HTTP. An HTTP URL's path is the prefix the API sits under
 * (`http://host/kserve/demo` → `/kserve/demo/v2/...`).
 */
export function clientOptionsFromUrl(
  url: string,
  extra: Omit<RemoteClientOptions, 'host' | 'port'> = {},
): ClientOptions {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `grpc://${url}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw new TritonError(
      'INVALID_CONFIG',
      `'${url}' is not a server address: use grpc://host:8001 or http://host:8000`,
    );
  }
  const scheme = parsed.protocol.replace(/:$/, '').toLowerCase();
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const tlsWanted = scheme === 'https' || scheme === 'grpcs';
  const tls = tlsWanted ? (extra.tls ? extra.tls : {}) : extra.tls;
  // http://host/kserve/demo: the API sits under that path behind an ingress.
  const prefix = parsed.pathname.replace(/\/+$/, '');
  if (scheme === 'grpc' || scheme === 'grpcs') {
    if (prefix) {
      throw new TritonError(
        'INVALID_CONFIG',
        `'${url}' has a path, but gRPC has none: give grpc://host:port, and route by host name with the authority option if an ingress needs it`,
      );
    }
    return { ...extra, mode: 'grpc', host, port: Number(parsed.port || 8001), tls };
  }
  if (scheme === 'http' || scheme === 'https') {
    const http = { ...extra, mode: 'http' as const, host, port: Number(parsed.port || 8000), tls };
    return prefix ? { ...http, pathPrefix: prefix } : http;
  }
  throw new TritonError(
    'INVALID_CONFIG',
    `Unsupported scheme '${scheme}' in '${url}': use grpc://, grpcs://, http:// or https://`,
  );
}

export { GrpcClient, HttpClient, LocalClient };
export { ReplicaClient, sumStatistics } from './replicas';
export type {
  ReplicaOptions,
  ReplicaState,
  ReplicaStatus,
  ReplicaStats,
  ReplicaEndpointStatus,
} from './replicas';
export { isRetryable, backoffDelay, RETRY_DEFAULTS } from './retry';
export type { RetryOptions } from './retry';
