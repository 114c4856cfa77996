/** The triton-server config node as the task, health and admin code find it. */
import type { TritonError } from '../client/errors';
import type { ServerConnection } from './connection';
import type { Node } from './types';

/** A deployed triton-server node as other nodes find it through RED.nodes.getNode. */
export interface ServerNode extends Node {
  connection?: ServerConnection;
  /** Why the server node has no connection (bad settings), when it has none. */
  configError?: TritonError;
}
