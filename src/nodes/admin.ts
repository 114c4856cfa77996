/**
 * What the editor asks the runtime through the admin API: the models a server
 * offers (with task, family, backend and labels, so the dialog can filter them)
 * and a connection test. The routes themselves are registered once, in
 * triton-server.ts; these functions hold the behaviour.
 */
import { createClient } from '../client';
import { LOCAL_SERVER_NAME } from '../client/local';
import { TritonError, httpStatusForCode, toTritonError } from '../client/errors';
import type { InferenceClient } from '../client/types';
import { resolveProfile, type ProfileCache } from '../vision/pipeline';
import type { ServerCredentials } from './config';
import type { ServerNode } from './common';
import { clientOptions, type TlsSource } from './connection';
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
}

export interface ListedModel {
  name: string;
  version: string;
  state: string;
  reason?: string;
  task?: string;
  family?: string;
  backend?: string;
  labels?: string[];
  error?: string;
  /** The error code behind `error` (the editor says why the list is empty from it). */
  code?: string;
}

export type TestResult =
  | { ok: true; server: { name: string; version: string }; live: boolean; ready: boolean }
  | { ok: false; code: string; message: string };

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
        if (!row.version) row.version = p.version;
      } catch (e) {
        const err = toTritonError(e);
        row.code = err.code;
        row.error =
          m.state !== 'READY' && m.state !== ''
            ? `${m.state}${m.reason ? `: ${m.reason}` : ''}`
            : err.message;
      }
      return row;
    }),
  );
}

export async function testConnection(client: InferenceClient): Promise<TestResult> {
  try {
    const live = await client.serverLive();
    const ready = await client.serverReady();
    const meta = await client.serverMetadata();
    // Local mode answers live/ready without its runtime: load a model so a missing
    // onnxruntime is reported here, with the command that installs it.
    if (meta.name === LOCAL_SERVER_NAME) {
      const [first] = await client.repositoryIndex();
      if (first) {
        await client.modelMetadata(first.name).catch((e: unknown) => {
          // Only the runtime is this test's business; a model that fails shows in the list.
          if (toTritonError(e).code === 'RUNTIME_MISSING') throw e;
        });
      }
    }
    return { ok: true, server: { name: meta.name, version: meta.version }, live, ready };
  } catch (e) {
    const err = toTritonError(e);
    return { ok: false, code: err.code, message: err.message };
  }
}

function credentialsFor(body: AdminBody, deployed: ServerNode | null): ServerCredentials {
  const sent = body.credentials ?? {};
  const stored = deployed?.credentials ?? {};
  const out: ServerCredentials = {};
  for (const f of CREDENTIAL_FIELDS) {
    const v = sent[f];
    const value = typeof v === 'string' && v !== PASSWORD_PLACEHOLDER ? v : stored[f];
    if (typeof value === 'string' && value !== '') out[f] = value;
  }
  return out;
}

/**
 * Runs `fn` with the deployed node's client when the body names a deployed node and
 * sends no settings; otherwise with a temporary client built from the settings sent,
 * closed afterwards.
 */
export async function withAdminClient<T>(
  RED: NodeAPI,
  body: AdminBody,
  fn: (client: InferenceClient, cache?: ProfileCache) => Promise<T>,
): Promise<T> {
  const deployed =
    typeof body.id === 'string' && body.id !== ''
      ? (RED.nodes.getNode(body.id) as ServerNode | null)
      : null;
  if (!body.config) {
    if (deployed?.connection) return fn(deployed.connection.client, deployed.connection.cache);
    if (deployed?.configError) throw deployed.configError;
    throw new TritonError(
      'INVALID_CONFIG',
      'This server node is not deployed yet: deploy it, or open it and test the connection',
    );
  }
  const config = body.config;
  const tlsId = typeof config.tlsConfig === 'string' ? config.tlsConfig : '';
  const tls = tlsId ? (RED.nodes.getNode(tlsId) as TlsSource | null) : null;
  const settings = {
    config,
    credentials: credentialsFor(body, deployed),
    tls,
    ...(RED.settings.userDir ? { userDir: RED.settings.userDir } : {}),
  };
  const client = createClient(clientOptions(settings));
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
    withAdminClient(RED, asBody(req.body), (client, cache) => listModels(client, cache)).then(
      (models) => res.json({ models }),
      (e: unknown) => {
        const err = toTritonError(e);
        res.status(httpStatusForCode(err.code)).json({ code: err.code, message: err.message });
      },
    );
  });

  RED.httpAdmin.post('/triton-vision/test', permission, (req, res) => {
    withAdminClient(RED, asBody(req.body), (client) => testConnection(client)).then(
      (result) => res.json(result),
      (e: unknown) => {
        const err = toTritonError(e);
        res.json({ ok: false, code: err.code, message: err.message });
      },
    );
  });
}
