/** triton-health: server and model readiness, on input and every N seconds. */
import { toTritonError } from '../protocol/errors';
import { serverNodeOf } from './server-node';
import { StatusText } from './status';
import { healthSettings, migrateHealth, type HealthConfig } from './config';
import { HealthController } from './health';
import type { Node, NodeAPI, NodeDef } from './types';

export default function tritonHealth(RED: NodeAPI): void {
  RED.nodes.registerType('triton-health', function (this: Node, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const status = new StatusText(RED, 'triton-health');
    let config: HealthConfig;
    try {
      config = healthSettings(def);
    } catch (e) {
      this.error(toTritonError(e, 'INVALID_CONFIG').message);
      config = { ...migrateHealth(def), interval: 0 };
    }
    const server = serverNodeOf(RED, config.server);
    if (server && !server.connection && server.configError) {
      this.error(server.configError.message);
    }
    const controller = new HealthController(this, config, server?.connection, status);
    this.on('input', (msg, send, done) => controller.input(msg, send, done));
    this.on('close', (_removed, done) => {
      controller.close().then(
        () => done(),
        () => done(),
      );
    });
    controller.start();
  });
}
