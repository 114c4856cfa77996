/**
 * triton-model: model management from a flow. Lists the server's repository with each
 * model's ready state, and loads or unloads a model; loading and unloading only when the
 * server node allows it ("Allow model control from flows"), since a flow that unloads a
 * model stops every node that uses it. Errors carry the codes of every other node.
 */
import { TritonError, toTritonError } from '../protocol/errors';
import { MODEL_ACTIONS, type ModelAction } from '../shared/options';
import { migrateModel, modelNodeSettings, type ModelNodeConfig } from './config';
import { withReplicas, type ServerConnection } from './connection';
import { serverNodeOf } from './server-node';
import { StatusText } from './status';
import type { Node, NodeAPI, NodeDef, NodeMessage } from './types';

/** One row of `list`: the repository index with ready as a boolean. */
export interface RepositoryRow {
  name: string;
  version: string;
  state: string;
  ready: boolean;
  reason?: string;
}

export interface ModelResult {
  action: ModelAction;
  model?: string;
  /** load / unload: whether the model is ready afterwards. */
  ready?: boolean;
  /** list: the repository. */
  models?: RepositoryRow[];
}

/** The action a message asks for: msg.action when set, else the node's. */
export function actionOf(msg: NodeMessage, config: ModelNodeConfig): ModelAction {
  const asked = (msg as { action?: unknown }).action;
  if (asked === undefined || asked === null || asked === '') return config.action;
  if (typeof asked === 'string' && (MODEL_ACTIONS as readonly string[]).includes(asked)) {
    return asked as ModelAction;
  }
  throw new TritonError(
    'INVALID_OPTION',
    `msg.action must be one of ${MODEL_ACTIONS.join(', ')}, got ${JSON.stringify(asked)}`,
  );
}

/** The model a message names: msg.model when set, else the node's. */
export function modelOf(msg: NodeMessage, config: ModelNodeConfig, action: ModelAction): string {
  const asked = (msg as { model?: unknown }).model;
  if (asked !== undefined && asked !== null && asked !== '' && typeof asked !== 'string') {
    throw new TritonError('INVALID_OPTION', `msg.model must be a model name, got ${typeof asked}`);
  }
  const model = (typeof asked === 'string' && asked.trim() !== '' ? asked : config.model).trim();
  if (model === '') {
    throw new TritonError(
      'INVALID_OPTION',
      `No model to ${action}: set Model in the node or send its name in msg.model`,
    );
  }
  return model;
}

/** Runs one action on a server connection. */
export async function runModelAction(
  connection: ServerConnection,
  allowControl: boolean,
  action: ModelAction,
  model: string | undefined,
  signal?: AbortSignal,
): Promise<ModelResult> {
  const client = connection.client;
  const opts = signal ? { signal } : {};
  if (action === 'list') {
    const index = await client.repositoryIndex(opts);
    const models = index
      .map((m): RepositoryRow => {
        const row: RepositoryRow = {
          name: m.name,
          version: m.version ?? '',
          state: m.state,
          ready: m.state === 'READY',
        };
        if (m.reason) row.reason = m.reason;
        return row;
      })
      .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
    return { action, models };
  }
  if (!allowControl) {
    throw new TritonError(
      'INVALID_CONFIG',
      `Model control from flows is off for ${connection.endpoint}: tick "Allow model control from flows" in the server node to ${action} models`,
    );
  }
  const name = model!;
  if (action === 'load') await client.loadModel(name, opts);
  else await client.unloadModel(name, opts);
  // The model may now have another shape (a new version) or be gone: forget its profile.
  connection.cache.invalidate(name);
  const ready = await client.modelReady(name, undefined, opts).catch(() => false);
  return { action, model: name, ready };
}

export default function tritonModel(RED: NodeAPI): void {
  RED.nodes.registerType('triton-model', function (this: Node, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const node: Node = this as Node;
    const status = new StatusText(RED, 'triton-model');
    let config: ModelNodeConfig;
    let setupError: TritonError | undefined;
    try {
      config = modelNodeSettings(def);
    } catch (e) {
      setupError = toTritonError(e, 'INVALID_CONFIG');
      config = migrateModel({});
    }
    const server = serverNodeOf(RED, config.server);
    if (!setupError && !server) {
      setupError = new TritonError(
        'INVALID_CONFIG',
        'No server configured: choose a Triton server in the node',
      );
    } else if (!setupError && !server!.connection) {
      setupError =
        server!.configError ?? new TritonError('INVALID_CONFIG', 'The server node failed');
    }
    if (setupError) {
      node.status(status.error(setupError.code));
      node.error(setupError.message);
    }
    const abort = new AbortController();
    let chain: Promise<unknown> = Promise.resolve();

    node.on('input', (msg, send, done) => {
      if (setupError) {
        done(setupError);
        return;
      }
      const connection = server!.connection!;
      // One action at a time: a load and an unload of the same model never race.
      const run = chain.then(async () => {
        let action: ModelAction | undefined;
        try {
          action = actionOf(msg, config);
          const model = action === 'list' ? undefined : modelOf(msg, config, action);
          node.status(withReplicas(status.ring('yellow', `status.${action}ing`), connection));
          const result = await runModelAction(
            connection,
            server!.modelControl === true,
            action,
            model,
            abort.signal,
          );
          connection.reportSuccess();
          const text =
            action === 'list'
              ? status.dot('green', 'status.listed', { count: result.models!.length })
              : status.dot(result.ready ? 'green' : 'blue', `status.${action}ed`, { model });
          node.status(withReplicas(text, connection));
          msg.payload = action === 'list' ? result.models : result;
          send(msg);
          done();
        } catch (e) {
          const err = toTritonError(e);
          // A refused load (Triton answers UNAVAILABLE when model control is off) says
          // nothing about the connection: only a failed list does.
          if (action === 'list') connection.reportFailure(err);
          node.status(status.error(err.code));
          done(err);
        }
      });
      chain = run.catch(() => undefined);
    });
    node.on('close', (_removed, done) => {
      abort.abort();
      chain.then(
        () => done(),
        () => done(),
      );
    });
  });
}
