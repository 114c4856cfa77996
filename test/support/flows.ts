/**
 * Shared flow builders and node-red-node-test-helper setup for the node specs:
 * readable ids ('server', 'detect', 'out', 'caught'), one config-node builder
 * reused by every spec, and event-driven waits (no sleeps).
 */
import * as net from 'node:net';
import tritonClassify from '../../src/nodes/triton-classify';
import tritonDetect from '../../src/nodes/triton-detect';
import tritonHealth from '../../src/nodes/triton-health';
import tritonSegment from '../../src/nodes/triton-segment';
import tritonServer from '../../src/nodes/triton-server';
import type { NodeMessage, NodeStatus } from '../../src/nodes/types';
import { FIXTURE_REPOSITORY, type FixtureModelSpec } from './fixtures';

/** The test helper has no type declarations; this is the part the specs use. */
export interface TestHelper {
  init(runtimePath: string, settings?: object): void;
  settings(s: object): object;
  load(nodes: unknown[], flow: object[], credentials?: object): Promise<void>;
  setFlows(flow: object[], type?: string, credentials?: object): Promise<void>;
  unload(): Promise<void>;
  getNode(id: string): TestNode;
  startServer(): Promise<void>;
  stopServer(): Promise<void>;
  request(): { get(path: string): AdminRequest; post(path: string): AdminRequest };
}

/** supertest's request: thenable, with a body to send. */
export interface AdminRequest extends PromiseLike<{ status: number; body: unknown; text: string }> {
  send(body: object): AdminRequest;
}

export interface TestNode {
  id: string;
  on(event: string, fn: (arg: never) => void): void;
  once(event: string, fn: (arg: never) => void): void;
  off(event: string, fn: (arg: never) => void): void;
  /** Node-RED's own removal: the only one that takes 'input' callbacks off. */
  removeListener(event: string, fn: (arg: never) => void): void;
  receive(msg: NodeMessage): void;
  controller?: {
    currentStatus: NodeStatus;
    counters: { received: number; answered: number; dropped: number };
    /** Requests sent again after a retryable failure, since deploy. */
    retries: number;
  };
}

export const helper: TestHelper = require('node-red-node-test-helper');
/**
 * The Node-RED runtime under test: the devDependency (4.1) by default, or the install
 * named by NODE_RED_DIR (CI runs the node suite again on Node-RED 5 under Node 22).
 */
export const NODE_RED_MAIN = process.env.NODE_RED_DIR
  ? require.resolve('node-red', { paths: [process.env.NODE_RED_DIR] })
  : require.resolve('node-red');
helper.init(NODE_RED_MAIN);

export const ALL_NODES = [tritonServer, tritonHealth, tritonDetect, tritonSegment, tritonClassify];

/** The small fixture models: fast enough for a node suite. */
export const SMALL_MODELS: FixtureModelSpec[] = [
  {
    name: 'yolov8n',
    file: 'yolov8n_int8_320.onnx',
    config: `name: "yolov8n"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "images" data_type: TYPE_FP32 dims: [ 1, 3, 320, 320 ] } ]
output [ { name: "output0" data_type: TYPE_FP32 dims: [ 1, 84, 2100 ] } ]
`,
  },
  {
    name: 'yolov8n_seg',
    file: 'yolov8n-seg_int8_320.onnx',
    config: `name: "yolov8n_seg"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "images" data_type: TYPE_FP32 dims: [ 1, 3, 320, 320 ] } ]
output [
  { name: "output0" data_type: TYPE_FP32 dims: [ 1, 116, 2100 ] },
  { name: "output1" data_type: TYPE_FP32 dims: [ 1, 32, 80, 80 ] }
]
`,
  },
  FIXTURE_REPOSITORY.find((m) => m.name === 'mobilenetv2')!,
];

export type Mode = 'grpc' | 'http' | 'local';

export interface ServerTarget {
  mode: Mode;
  host?: string;
  httpPort?: number;
  grpcPort?: number;
  modelRepository?: string;
}

/** Flow nodes need a position, or the runtime takes them for config nodes. */
const AT = { x: 100, y: 100 };

/** The triton-server config node every spec uses. */
export function serverNode(target: ServerTarget, extra: Record<string, unknown> = {}): object {
  return {
    id: 'server',
    type: 'triton-server',
    name: '',
    mode: target.mode,
    host: target.host ?? '127.0.0.1',
    httpPort: target.httpPort ?? 8000,
    grpcPort: target.grpcPort ?? 8001,
    modelRepository: target.modelRepository ?? '',
    tls: false,
    tlsConfig: '',
    authType: 'none',
    authHeader: '',
    timeout: 30,
    version: 1,
    ...extra,
  };
}

/**
 * tab + server + the node under test (id = `id`) wired to 'out', and a catch node
 * wired to 'caught' so every done(err) is observable as a message.
 */
export function taskFlow(
  type: 'triton-detect' | 'triton-segment' | 'triton-classify',
  target: ServerTarget,
  node: Record<string, unknown>,
  serverExtra: Record<string, unknown> = {},
): object[] {
  const id = (node.id as string | undefined) ?? type.replace('triton-', '');
  return [
    { id: 'flow', type: 'tab', label: 'spec' },
    serverNode(target, serverExtra),
    {
      id,
      type,
      z: 'flow',
      name: '',
      server: 'server',
      version: 1,
      ...AT,
      ...node,
      wires: [['out']],
    },
    { id: 'out', type: 'helper', z: 'flow', ...AT },
    // Not id 'catch': the runtime would read the node's type as a reference to itself.
    {
      id: 'catcher',
      type: 'catch',
      z: 'flow',
      scope: null,
      uncaught: false,
      ...AT,
      wires: [['caught']],
    },
    { id: 'caught', type: 'helper', z: 'flow', ...AT },
  ];
}

export function healthFlow(target: ServerTarget, node: Record<string, unknown>): object[] {
  return [
    { id: 'flow', type: 'tab', label: 'spec' },
    serverNode(target),
    {
      id: 'health',
      type: 'triton-health',
      z: 'flow',
      server: 'server',
      models: '',
      interval: 0,
      emit: 'change',
      version: 1,
      ...AT,
      ...node,
      wires: [['out']],
    },
    { id: 'out', type: 'helper', z: 'flow', ...AT },
  ];
}

/** Rejects with a readable message instead of waiting for mocha's timeout. */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Adds an 'input' callback to a node and returns the function that takes it off again.
 * Node-RED keeps input callbacks in its own list (Node.prototype.on), and only its
 * removeListener knows that list: EventEmitter's `off` is a separate function that never
 * sees them, so listeners "removed" with `off` stayed and piled up over long runs. The
 * removal waits for a microtask: Node-RED calls the callbacks of one message in a loop
 * over that list, and taking one out mid-loop would skip the next one.
 */
function listenInput(node: TestNode, fn: (msg: NodeMessage) => void): () => void {
  let active = true;
  const on = (msg: NodeMessage): void => {
    if (active) fn(msg);
  };
  node.on('input', on);
  return () => {
    if (!active) return;
    active = false;
    queueMicrotask(() => node.removeListener('input', on));
  };
}

/** 'input' callbacks a node holds now (for tests of the helpers themselves). */
export function inputListenerCount(id: string): number {
  const node = helper.getNode(id) as TestNode & {
    _inputCallback?: unknown;
    _inputCallbacks?: unknown[] | null;
  };
  return node._inputCallbacks ? node._inputCallbacks.length : node._inputCallback ? 1 : 0;
}

/** The next message a helper node receives. */
export function nextMessage(id: string, ms = 20000): Promise<NodeMessage> {
  return messages(id, 1, ms).then((list) => list[0]!);
}

/** The next `count` messages a helper node receives, in order. */
export function messages(id: string, count: number, ms = 20000): Promise<NodeMessage[]> {
  const node = helper.getNode(id);
  const got: NodeMessage[] = [];
  let stop: () => void = () => undefined;
  return within(
    ms,
    count === 1 ? `a message at '${id}'` : `${count} messages at '${id}'`,
    new Promise<NodeMessage[]>((resolve) => {
      stop = listenInput(node, (msg) => {
        got.push(msg);
        if (got.length === count) {
          stop();
          resolve(got);
        }
      });
    }),
  ).finally(() => stop());
}

/** Resolves with the first status (current or future) of node `id` that matches. */
export function statusOf(
  id: string,
  match: (s: NodeStatus) => boolean,
  ms = 20000,
): Promise<NodeStatus> {
  const node = helper.getNode(id);
  const now = node.controller?.currentStatus;
  if (now && match(now)) return Promise.resolve(now);
  return within(
    ms,
    `a matching status on '${id}'`,
    new Promise<NodeStatus>((resolve) => {
      const on = (call: { args: [NodeStatus] }): void => {
        if (match(call.args[0])) {
          node.off('call:status', on);
          resolve(call.args[0]);
        }
      };
      node.on('call:status', on);
    }),
  );
}

export const isStatus =
  (fill: string, text: string) =>
  (s: NodeStatus): boolean =>
    s.fill === fill && s.text === text;

/** A port nothing listens on right now (to start a server on later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A TCP server that accepts connections and never answers: a hung Triton, which a
 * healthy server cannot be made to imitate.
 */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}
