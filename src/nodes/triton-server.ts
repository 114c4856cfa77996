/**
 * triton-server: the config node. It owns one client (gRPC, HTTP or local), its
 * profile cache and connection state; the task and health nodes find it by id.
 * The editor's admin routes are registered here, once per runtime.
 */
import * as path from 'node:path';
import { toTritonError } from '../protocol/errors';
import { describeRuntime } from '../client/local';
import { localRuntime, registerAdminRoutes } from './admin';
import { endpointKey, type ServerNode } from './server-node';
import { boolField, migrateServer, type ServerCredentials } from './config';
import { demoRepository, openConnection, type TlsSource } from './connection';
import type { Node, NodeAPI, NodeDef } from './types';

export default function tritonServer(RED: NodeAPI): void {
  registerAdminRoutes(RED);
  // The example flows find the bundled photos as $env('TRITON_VISION_DEMO') + /models/photos,
  // wherever the package is installed (a setting made before Node-RED starts wins).
  process.env.TRITON_VISION_DEMO ??= path.dirname(path.dirname(demoRepository()));

  RED.nodes.registerType(
    'triton-server',
    function (this: Node, def: NodeDef) {
      RED.nodes.createNode(this, def);
      const node = this as ServerNode;
      try {
        const config = migrateServer(def);
        node.savedEndpoint = endpointKey(config);
        node.modelControl = boolField(config.modelControl);
        const tls =
          config.tls && config.tlsConfig
            ? (RED.nodes.getNode(config.tlsConfig) as TlsSource | null)
            : null;
        node.connection = openConnection({
          config,
          credentials: (node.credentials ?? {}) as ServerCredentials,
          tls,
          ...(RED.settings.userDir ? { userDir: RED.settings.userDir } : {}),
        });
        logLocalRuntime(node);
      } catch (e) {
        // Users of this node show the sentence; the message never holds credentials.
        node.configError = toTritonError(e, 'INVALID_CONFIG');
        node.error(node.configError.message);
      }
      node.on('close', (_removed, done) => {
        const closing = node.connection ? node.connection.close() : Promise.resolve();
        closing.then(
          () => done(),
          () => done(),
        );
      });
    },
    {
      credentials: {
        token: { type: 'password' },
        username: { type: 'text' },
        password: { type: 'password' },
        headerValue: { type: 'password' },
      },
    },
  );
}

/**
 * Local mode says in the log which onnxruntime runs its models (native or WebAssembly, and
 * how to get the faster one), or what to install when none loads.
 */
function logLocalRuntime(node: ServerNode): void {
  const client = node.connection?.client;
  if (!client || client.kind !== 'local') return;
  localRuntime(client).then(
    (info) => {
      if (!info) return;
      node.log(`local · ${describeRuntime(info)}${info.note ? `: ${info.note}` : ''}`);
    },
    (e: unknown) => node.warn(toTritonError(e).message),
  );
}
