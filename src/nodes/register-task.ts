/** Registration of the task node types: config, server lookup, then a TaskController. */
import { TritonError, toTritonError } from '../protocol/errors';
import { migrateTask, taskSettings, type TaskConfig, type TaskKind } from './config';
import { serverNodeOf } from './server-node';
import { StatusText } from './status';
import { TaskController } from './task-controller';
import type { Node, NodeAPI, NodeDef } from './types';

/**
 * Registers a task node type: reads and migrates the config, finds the server node,
 * and hands the rest to a TaskController.
 */
export function registerTaskNode(RED: NodeAPI, type: string, task: TaskKind): void {
  RED.nodes.registerType(type, function (this: Node, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const status = new StatusText(RED, type);
    let config: TaskConfig;
    let setupError: TritonError | undefined;
    try {
      config = taskSettings(def);
    } catch (e) {
      setupError = toTritonError(e, 'INVALID_CONFIG');
      config = migrateTask({});
    }
    const server = serverNodeOf(RED, config.server);
    if (!setupError && !server) {
      setupError = new TritonError(
        'INVALID_CONFIG',
        'No server configured: choose a Triton server in the node',
      );
    }
    if (!setupError && server && !server.connection) {
      setupError =
        server.configError ??
        new TritonError('INVALID_CONFIG', 'The server node could not start: check its settings');
    }
    let controller: TaskController;
    try {
      controller = new TaskController(
        this,
        RED,
        task,
        config,
        server?.connection,
        setupError,
        status,
      );
    } catch (e) {
      // Bad queue settings: fall back to defaults so the node still ends every message.
      const err = toTritonError(e, 'INVALID_CONFIG');
      controller = new TaskController(this, RED, task, migrateTask({}), undefined, err, status);
    }
    (this as Node & { controller?: TaskController }).controller = controller;
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
