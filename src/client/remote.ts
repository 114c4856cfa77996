/**
 * Settings shared by the two network clients (gRPC and HTTP): defaults, validation of
 * what the user configured, and the "host:port" used in every message. One place, so
 * both transports accept and refuse the same options with the same sentences.
 */
import { TritonError } from '../protocol/errors';
import type { RemoteClientOptions } from '../protocol/types';

export const DEFAULT_TIMEOUT_MS = 30000;
/** 256 MiB: a [1,3,1280,1280] FP32 request and YOLOv8-seg outputs at 1280 fit easily. */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

export interface RemoteSettings {
  host: string;
  port: number;
  /** "host:port", IPv6 hosts in brackets. */
  endpoint: string;
  timeoutMs: number;
  maxMessageBytes: number;
}

export function formatEndpoint(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

function positive(
  protocol: string,
  name: string,
  v: number | undefined,
  fallback: number,
  max: number,
  finite: boolean,
): number {
  if (v === undefined) return fallback;
  if (
    typeof v !== 'number' ||
    Number.isNaN(v) ||
    v <= 0 ||
    v > max ||
    (finite && !Number.isFinite(v))
  ) {
    throw new TritonError(
      'INVALID_CONFIG',
      `${protocol} client option ${name} is ${String(v)}: it must be a positive number${max < Infinity ? ` up to ${max}` : ''}`,
    );
  }
  return v;
}

/**
 * Validates and completes a network client's options.
 * @param protocol 'gRPC' or 'HTTP', for the messages
 * @param defaultPort 8001 for gRPC, 8000 for HTTP
 * @param maxMessageLimit the transport's own ceiling for maxMessageBytes
 */
export function resolveRemoteOptions(
  options: RemoteClientOptions,
  protocol: 'gRPC' | 'HTTP',
  defaultPort: number,
  maxMessageLimit = Infinity,
): RemoteSettings {
  const host = options.host || '127.0.0.1';
  const port = options.port ?? defaultPort;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TritonError(
      'INVALID_CONFIG',
      `${protocol} port ${String(port)} is not a port number: use 1-65535 (Triton listens on ${defaultPort})`,
    );
  }
  const tls = options.tls;
  if (tls && (tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TritonError(
      'INVALID_CONFIG',
      `${protocol} TLS needs both a client certificate and its key, or neither: set tls.cert and tls.key together`,
    );
  }
  return {
    host,
    port,
    endpoint: formatEndpoint(host, port),
    timeoutMs: positive(
      protocol,
      'timeoutMs',
      options.timeoutMs,
      DEFAULT_TIMEOUT_MS,
      Infinity,
      true,
    ),
    maxMessageBytes: Math.floor(
      positive(
        protocol,
        'maxMessageBytes',
        options.maxMessageBytes,
        DEFAULT_MAX_MESSAGE_BYTES,
        maxMessageLimit,
        false,
      ),
    ),
  };
}
