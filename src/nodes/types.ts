/**
 * The small slice of the Node-RED runtime API these nodes use. `@types/node-red`
 * is not a dependency: these interfaces are written from what the runtime hands
 * to a node module (`module.exports = function (RED) {...}`) and to a node
 * constructor, and nothing more.
 */

export type StatusFill = 'red' | 'green' | 'yellow' | 'blue' | 'grey';
export type StatusShape = 'ring' | 'dot';

export interface NodeStatus {
  fill?: StatusFill;
  shape?: StatusShape;
  text?: string;
}

/** A message as it travels between nodes; `_msgid` is set by the runtime. */
export interface NodeMessage {
  _msgid?: string;
  payload?: unknown;
  [key: string]: unknown;
}

export type SendFunction = (msg: NodeMessage | (NodeMessage | null)[]) => void;
export type DoneFunction = (err?: Error) => void;

export type InputHandler = (msg: NodeMessage, send: SendFunction, done: DoneFunction) => void;
export type CloseHandler = (removed: boolean, done: () => void) => void;

/** The runtime's node object (what `this` is inside a registered constructor). */
export interface Node {
  readonly id: string;
  readonly type: string;
  name?: string;
  z?: string;
  credentials?: Record<string, string | undefined>;
  on(event: 'input', handler: InputHandler): void;
  on(event: 'close', handler: CloseHandler): void;
  status(status: NodeStatus | Record<string, never>): void;
  send(msg: NodeMessage | (NodeMessage | null)[]): void;
  error(err: unknown, msg?: NodeMessage): void;
  warn(message: unknown): void;
  log(message: unknown): void;
  debug(message: unknown): void;
}

/** The flow JSON of one node, as the constructor receives it. */
export interface NodeDef {
  id: string;
  type: string;
  name?: string;
  z?: string;
  [key: string]: unknown;
}

/** The parts of an express request/response the admin routes touch. */
export interface AdminRequest {
  body?: unknown;
}
export interface AdminResponse {
  status(code: number): AdminResponse;
  json(body: unknown): void;
}
export type AdminHandler = (req: AdminRequest, res: AdminResponse, next: () => void) => void;

/** The core `tls-config` node as seen from another node's runtime. */
export interface TlsConfigNode extends Node {
  verifyservercert?: boolean;
  servername?: string;
  credentials?: Record<string, string | undefined>;
  /** Fills `ca`, `cert`, `key`, `passphrase`, `servername`, `rejectUnauthorized`. */
  addTLSOptions?(opts: Record<string, unknown>): Record<string, unknown>;
}

export interface NodeAPI {
  nodes: {
    createNode(node: object, def: NodeDef): void;
    registerType(
      type: string,
      constructor: (this: Node, def: NodeDef) => void,
      opts?: { credentials?: Record<string, { type: 'text' | 'password' }> },
    ): void;
    getNode(id: string): Node | null;
  };
  util: {
    getMessageProperty(msg: NodeMessage, expr: string): unknown;
    setMessageProperty(
      msg: NodeMessage,
      expr: string,
      value: unknown,
      createMissing?: boolean,
    ): boolean;
  };
  settings: { userDir?: string; [key: string]: unknown };
  auth: { needsPermission(permission: string): AdminHandler };
  httpAdmin: {
    post(path: string, ...handlers: AdminHandler[]): void;
  };
  log: {
    info(message: unknown): void;
    warn(message: unknown): void;
    error(message: unknown): void;
    debug(message: unknown): void;
  };
  /** Messages to the editors connected to this runtime (`RED.comms.subscribe` there). */
  comms?: { publish(topic: string, data: unknown, retain: boolean): void };
  /** Catalog lookup in this module's namespace (`'triton-detect.status.ready'`). */
  _(key: string, substitutions?: Record<string, unknown>): string;
}
