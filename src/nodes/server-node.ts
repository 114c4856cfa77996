/** The triton-server config node as the task, health and admin code find it. */
import type { TritonError } from '../protocol/errors';
import type { ServerConnection } from './connection';
import type { Node, NodeAPI } from './types';

/** A deployed triton-server node as other nodes find it through RED.nodes.getNode. */
export interface ServerNode extends Node {
  connection?: ServerConnection;
  /** Why the server node has no connection (bad settings), when it has none. */
  configError?: TritonError;
  /** endpointKey() of the settings the node was deployed with: where its secrets may go. */
  savedEndpoint?: string;
  /** "Allow model control from flows": triton-model nodes may load and unload. */
  modelControl?: boolean;
}

/** The server node a task, health or model node names in its `server` setting, if deployed. */
export function serverNodeOf(RED: NodeAPI, id: unknown): ServerNode | null {
  return typeof id === 'string' && id !== '' ? (RED.nodes.getNode(id) as ServerNode | null) : null;
}

/**
 * Where a server node's secrets may go: mode, host, the port of that mode, the TLS
 * settings, the replica list, the HTTP path prefix and the Host header / :authority, as
 * one comparable string. Settings as saved or as the editor sends them.
 */
export function endpointKey(config: Record<string, unknown>): string {
  const mode = String(config.mode ?? 'grpc');
  if (mode === 'local') return 'local';
  const port = mode === 'http' ? config.httpPort : config.grpcPort;
  const tls = config.tls === true || config.tls === 'true';
  return JSON.stringify([
    mode,
    String(config.host ?? '')
      .trim()
      .toLowerCase(),
    String(port ?? '').trim(),
    tls,
    tls ? String(config.tlsConfig ?? '') : '',
    String(config.replicas ?? '')
      .toLowerCase()
      .split(/[\s,]+/)
      .filter((e) => e !== '')
      .sort(),
    mode === 'http'
      ? String(config.pathPrefix ?? '')
          .trim()
          .replace(/\/+$/, '')
      : '',
    String(config.hostHeader ?? '')
      .trim()
      .toLowerCase(),
  ]);
}
