/**
 * What the editor asks the runtime through the admin API: the models a server
 * offers (with task, family, backend and labels, so the dialog can filter them, and
 * why the list is empty when it is) and a connection test. The routes themselves are
 * registered once, in triton-server.ts; these functions hold the behaviour.
 *
 * Secrets: stored credentials are only ever those of a deployed triton-server node, and
 * only go to the endpoints (mode, host, port, TLS, replicas, path prefix, Host header) that
 * node was saved with. Local-mode
 * settings sent from the editor may only name a repository inside the allowed folders.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeRuntime, type LocalClient, type RuntimeInfo } from '../client/local';
import { TritonError, httpStatusForCode, toTritonError } from '../protocol/errors';
import type { InferenceClient } from '../protocol/types';
import { resolveProfile, type ProfileCache } from '../vision/pipeline';
import type { ListedModel } from '../shared/wire';
import type { ServerCredentials } from './config';
import {
  createServerClient,
  demoRepository,
  resolveRepository,
  type TlsSource,
} from './connection';
import { readModelLabelFile, type LabelFileResult } from './labels';
import { endpointKey, type ServerNode } from './server-node';
import type { AdminHandler, NodeAPI } from './types';

/** The editor sends this for a stored password it does not know. */
export const PASSWORD_PLACEHOLDER = '__PWRD__';
const CREDENTIAL_FIELDS = ['token', 'username', 'password', 'headerValue'] as const;

export interface AdminBody {
  /** A triton-server node id (deployed or not). */
  id?: string;
  /** The server node's settings as the editor holds them; absent = use the deployed node. */
  config?: Record<string, unknown>;
  credentials?: Record<string, unknown>;
  /** The task node asking ('detect', 'segment', 'classify'): says why none is listed. */
  task?: string;
}

export type { ListedModel };

/**
 * Why a model list (for one task, when the editor names it) is empty:
 * - `unreachable`: the server did not answer (the route answers with an error status);
 * - `runtime-missing`: local mode has no usable onnxruntime; `message` says what to run;
 * - `no-models`: the repository holds no model at all;
 * - `no-task-model`: models are there, none of the task asked for (or none usable);
 * - `invalid-config` / `error`: the settings, or anything else (the route's error status).
 */
export type EmptyReason =
  'unreachable' | 'runtime-missing' | 'no-models' | 'no-task-model' | 'invalid-config' | 'error';

export interface EmptyList {
  reason: EmptyReason;
  code?: string;
  message: string;
}

export type TestResult =
  | {
      ok: true;
      server: { name: string; version: string };
      live: boolean;
      ready: boolean;
      /** Local mode: the onnxruntime in use, e.g. "onnxruntime-web 1.22.0 (WebAssembly, ...)". */
      runtime?: string;
      /** Local mode: why the faster runtime is not the one in use, and how to get it. */
      runtimeNote?: string;
    }
  | { ok: false; code: string; message: string; reason: EmptyReason };

/** Every model in the repository index, each with its derived profile or why it has none. */
export async function listModels(
  client: InferenceClient,
  cache?: ProfileCache,
): Promise<ListedModel[]> {
  const index = await client.repositoryIndex();
  // One row per name: the READY entry when several versions are listed.
  const byName = new Map<string, (typeof index)[number]>();
  for (const m of index) {
    const seen = byName.get(m.name);
    if (!seen || (seen.state !== 'READY' && m.state === 'READY')) byName.set(m.name, m);
  }
  return Promise.all(
    [...byName.values()].map(async (m): Promise<ListedModel> => {
      const row: ListedModel = { name: m.name, version: m.version ?? '', state: m.state };
      if (m.reason) row.reason = m.reason;
      try {
        const p = await resolveProfile(client, m.name, '', cache ? { cache } : {});
        row.task = p.task;
        row.family = p.family;
        row.backend = p.backend;
        row.labels = p.labels;
        // The class picker shows the names the node will use: a local label file's.
        const file: LabelFileResult =
          client.kind === 'local'
            ? await readModelLabelFile(client, m.name, '').catch(() => ({}))
            : {};
        if (file.labels?.length === p.numClasses) row.labels = file.labels;
        if (!row.version) row.version = p.version;
      } catch (e) {
        const err = toTritonError(e);
        row.code = err.code;
        row.error =
          m.state !== 'READY' && m.state !== '' && err.code !== 'RUNTIME_MISSING'
            ? `${m.state}${m.reason ? `: ${m.reason}` : ''}`
            : err.message;
      }
      return row;
    }),
  );
}

/** The route's classification of an error that left no list at all. */
export function reasonFor(code: string): EmptyReason {
  switch (code) {
    case 'TRITON_UNAVAILABLE':
    case 'TIMEOUT':
      return 'unreachable';
    case 'RUNTIME_MISSING':
      return 'runtime-missing';
    case 'INVALID_CONFIG':
      return 'invalid-config';
    default:
      return 'error';
  }
}

/**
 * Why `models` offers nothing for `task` (any task when absent), or undefined when it
 * offers something. The editor shows `message`; `reason` lets it choose how.
 */
export function whyEmpty(
  models: ListedModel[],
  endpoint: string,
  task?: string,
): EmptyList | undefined {
  const usable = models.filter((m) => m.task !== undefined && (!task || m.task === task));
  if (usable.length > 0) return undefined;
  if (models.length === 0) {
    return { reason: 'no-models', message: `${endpoint} holds no models` };
  }
  const missing = models.find((m) => m.code === 'RUNTIME_MISSING');
  if (missing) {
    return { reason: 'runtime-missing', code: 'RUNTIME_MISSING', message: missing.error ?? '' };
  }
  const tasks = [...new Set(models.map((m) => m.task).filter((t) => t !== undefined))].sort();
  const unusable = models.filter((m) => m.task === undefined).length;
  const what = task ? `no ${task} model` : 'no usable model';
  const found = [
    ...(tasks.length > 0 ? [`models for ${tasks.join(', ')}`] : []),
    ...(unusable > 0 ? [`${unusable} that could not be read (see each one's error)`] : []),
  ].join(' and ');
  return {
    reason: 'no-task-model',
    message: `${endpoint} has ${what}: it offers ${found}`,
  };
}

/**
 * Live, ready and metadata; in local mode also the runtime the models run on (loaded
 * without opening a model), so a missing runtime is reported with its fix instead of
 * "connected", and a working one is named.
 */
export async function testConnection(client: InferenceClient): Promise<TestResult> {
  try {
    const live = await client.serverLive();
    const ready = await client.serverReady();
    const meta = await client.serverMetadata();
    const result: TestResult = {
      ok: true,
      server: { name: meta.name, version: meta.version },
      live,
      ready,
    };
    const info = await localRuntime(client);
    if (info) {
      result.runtime = describeRuntime(info);
      if (info.note) result.runtimeNote = info.note;
    }
    return result;
  } catch (e) {
    const err = toTritonError(e);
    return { ok: false, code: err.code, message: err.message, reason: reasonFor(err.code) };
  }
}

/**
 * The onnxruntime a local client runs on; undefined for a remote server. Rejects with
 * RUNTIME_MISSING (its message names the command to run) when none loads.
 */
export function localRuntime(client: InferenceClient): Promise<RuntimeInfo | undefined> {
  // Duck-typed, not instanceof: a bundle may hold its own copy of the class.
  const local = client as Partial<Pick<LocalClient, 'runtimeInfo'>>;
  if (client.kind !== 'local' || typeof local.runtimeInfo !== 'function') {
    return Promise.resolve(undefined);
  }
  return local.runtimeInfo.call(client);
}

function storedSecretElsewhere(): TritonError {
  return new TritonError(
    'INVALID_CONFIG',
    'The address, port, mode or TLS settings differ from the ones this server node was ' +
      'deployed with, and stored secrets are only sent to those: type the secret again ' +
      '(or deploy first) to use it with the new settings',
  );
}

/**
 * The credentials for a temporary client: what the editor typed, and for each field it
 * left as the placeholder the deployed node's stored value, only when `deployed` is a
 * triton-server node and the settings sent keep its endpoint.
 */
export function credentialsFor(
  body: AdminBody,
  deployed: ServerNode | null,
  config: Record<string, unknown>,
): ServerCredentials {
  const sent = body.credentials ?? {};
  const mine = deployed?.type === 'triton-server' ? deployed : null;
  const stored = mine?.credentials ?? {};
  const sameEndpoint =
    mine?.savedEndpoint !== undefined && mine.savedEndpoint === endpointKey(config);
  const out: ServerCredentials = {};
  for (const f of CREDENTIAL_FIELDS) {
    const v = sent[f];
    if (typeof v === 'string' && v !== PASSWORD_PLACEHOLDER) {
      if (v !== '') out[f] = v;
      continue;
    }
    const value = stored[f];
    if (typeof value !== 'string' || value === '') continue;
    if (!sameEndpoint) {
      // Asked for a stored secret (the placeholder) somewhere else: refuse, say why.
      if (v === PASSWORD_PLACEHOLDER) throw storedSecretElsewhere();
      continue;
    }
    out[f] = value;
  }
  return out;
}

/** Folders a local repository sent from the editor may be in (real paths). */
export function allowedRepositoryRoots(RED: NodeAPI): string[] {
  const roots = [demoRepository()];
  if (RED.settings.userDir) roots.push(RED.settings.userDir);
  const extra = (RED.settings.tritonVision as { modelRepositories?: unknown } | undefined)
    ?.modelRepositories;
  if (Array.isArray(extra)) {
    for (const r of extra) if (typeof r === 'string' && r.trim() !== '') roots.push(r.trim());
  }
  return roots.map((r) => {
    const abs = path.resolve(r);
    try {
      return fs.realpathSync(abs);
    } catch {
      return abs;
    }
  });
}

/**
 * The repository an editor-sent local config names, if it lies inside an allowed folder
 * (links resolved first, so neither `..` nor a symbolic link leads out). Throws
 * INVALID_CONFIG otherwise: the model list must not be a directory browser.
 */
export function checkLocalRepository(RED: NodeAPI, value: unknown): string {
  const typed = String(value ?? '');
  const resolved = resolveRepository(typed, RED.settings.userDir);
  let real: string;
  try {
    real = fs.realpathSync(resolved);
  } catch {
    real = resolved;
  }
  const inside = allowedRepositoryRoots(RED).some(
    (root) => real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep),
  );
  if (!inside) {
    throw new TritonError(
      'INVALID_CONFIG',
      `The repository '${typed}' is outside the folders local mode may read from the editor: ` +
        "use a folder in the Node-RED user directory, 'demo', or add it to " +
        'tritonVision.modelRepositories in settings.js',
    );
  }
  return real;
}

/**
 * Runs `fn` with the deployed node's client when the body names a deployed node and
 * sends no settings; otherwise with a temporary client built from the settings sent,
 * closed afterwards. `endpoint` names the server for sentences.
 */
export async function withAdminClient<T>(
  RED: NodeAPI,
  body: AdminBody,
  fn: (client: InferenceClient, cache?: ProfileCache) => Promise<T>,
): Promise<T> {
  const found =
    typeof body.id === 'string' && body.id !== ''
      ? (RED.nodes.getNode(body.id) as ServerNode | null)
      : null;
  // Another node type's id (an mqtt-broker...) gives nothing: no client, no credentials.
  const deployed = found?.type === 'triton-server' ? found : null;
  if (!body.config) {
    if (deployed?.connection) return fn(deployed.connection.client, deployed.connection.cache);
    if (deployed?.configError) throw deployed.configError;
    throw new TritonError(
      'INVALID_CONFIG',
      'This server node is not deployed yet: deploy it, or open it and test the connection',
    );
  }
  const config = { ...body.config };
  if (config.mode === 'local')
    config.modelRepository = checkLocalRepository(RED, config.modelRepository);
  const tlsId = typeof config.tlsConfig === 'string' ? config.tlsConfig : '';
  const tlsNode = tlsId ? RED.nodes.getNode(tlsId) : null;
  const tls = tlsNode?.type === 'tls-config' ? (tlsNode as TlsSource) : null;
  const settings = {
    config,
    credentials: credentialsFor(body, deployed, body.config),
    tls,
    ...(RED.settings.userDir ? { userDir: RED.settings.userDir } : {}),
  };
  const client = createServerClient(settings, { retry: false });
  try {
    return await fn(client);
  } finally {
    await client.close().catch(() => undefined);
  }
}

function asBody(raw: unknown): AdminBody {
  return typeof raw === 'object' && raw !== null ? (raw as AdminBody) : {};
}

/** The routes, registered once per runtime (module load), never per node. */
export function registerAdminRoutes(RED: NodeAPI): void {
  const read = RED.auth.needsPermission('triton-server.read');
  const write = RED.auth.needsPermission('triton-server.write');
  // Settings sent from the editor open a connection to any address: that needs write access.
  const permission: AdminHandler = (req, res, next) =>
    (asBody(req.body).config ? write : read)(req, res, next);

  RED.httpAdmin.post('/triton-vision/models', permission, (req, res) => {
    const body = asBody(req.body);
    const task = typeof body.task === 'string' && body.task !== '' ? body.task : undefined;
    withAdminClient(RED, body, async (client, cache) => {
      const models = await listModels(client, cache);
      const empty = whyEmpty(models, client.endpoint, task);
      return empty ? { models, empty } : { models };
    }).then(
      (answer) => res.json(answer),
      (e: unknown) => {
        const err = toTritonError(e);
        res
          .status(httpStatusForCode(err.code))
          .json({ code: err.code, message: err.message, reason: reasonFor(err.code) });
      },
    );
  });

  RED.httpAdmin.post('/triton-vision/test', permission, (req, res) => {
    withAdminClient(RED, asBody(req.body), (client) => testConnection(client)).then(
      (result) => res.json(result),
      (e: unknown) => {
        const err = toTritonError(e);
        res.json({ ok: false, code: err.code, message: err.message, reason: reasonFor(err.code) });
      },
    );
  });
}
