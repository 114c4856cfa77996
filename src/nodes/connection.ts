/**
 * What a triton-server config node owns: one client, one profile cache, the nodes
 * that use it, and the connection state it pushes to them. While the server is
 * unreachable it probes `serverLive` with backoff so its users learn the moment
 * it is back, without a redeploy. No Node-RED imports: the node file wires this.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createClient, ReplicaClient, type ClientOptions } from '../client';
import type { ReplicaStatus } from '../client/replicas';
import { TritonError, isTritonError } from '../protocol/errors';
import type { InferenceClient, TlsOptions } from '../protocol/types';
import { ProfileCache } from '../vision/pipeline';
import { SERVER_OPTIONS } from '../shared/options';
import {
  boolField,
  numberField,
  oneOf,
  type AuthType,
  type ServerCredentials,
  type ServerMode,
} from './config';
import type { NodeStatus } from './types';

export type ConnectionState = 'connecting' | 'connected' | 'down';

/** A node that uses a server: told of every state change (and the current one at once). */
export interface ServerUser {
  onServerState(state: ConnectionState): void;
  /** Replicas only: an endpoint left or rejoined the rotation. */
  onReplicaStatus?(status: ReplicaStatus): void;
}

export interface BackoffOptions {
  /** First retry delay in ms (default 500). */
  initialMs?: number;
  /** Largest retry delay in ms (default 5000). */
  maxMs?: number;
}

/** Codes that say "the server is not there (yet)" rather than "this request is wrong". */
export function isTransient(code: string): boolean {
  return code === 'TRITON_UNAVAILABLE' || code === 'TIMEOUT' || code === 'MODEL_NOT_READY';
}

/** Delays of a capped exponential backoff: 500, 1000, 2000, 4000, 5000, 5000, ... */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const initial = opts.initialMs ?? 500;
  const max = opts.maxMs ?? 5000;
  return Math.min(max, initial * 2 ** Math.max(0, attempt));
}

/**
 * The bundled demo repository: `nodes/../models/demo` once built, `src/nodes/../../models/demo`
 * when run from source.
 */
export function demoRepository(baseDir: string = __dirname): string {
  const candidates = [
    path.resolve(baseDir, '..', 'models', 'demo'),
    path.resolve(baseDir, '..', '..', 'models', 'demo'),
  ];
  return candidates.find((c) => fs.existsSync(c)) ?? candidates[0];
}

/** 'demo'/'' → the bundled models; relative → the Node-RED user dir if it holds it, else cwd. */
export function resolveRepository(value: string, userDir?: string): string {
  const v = value.trim();
  if (v === '' || v === 'demo') return demoRepository();
  if (path.isAbsolute(v)) return v;
  if (userDir) {
    const inUserDir = path.resolve(userDir, v);
    if (fs.existsSync(inUserDir)) return inUserDir;
  }
  return path.resolve(process.cwd(), v);
}

/** Headers (gRPC metadata too, hence lower case) for the configured authentication. */
export function authHeaders(
  authType: AuthType,
  authHeader: string,
  creds: ServerCredentials,
): Record<string, string> {
  const missing = (what: string): TritonError =>
    new TritonError(
      'INVALID_CONFIG',
      `Authentication '${authType}' needs ${what}: enter it in the server node`,
    );
  switch (authType) {
    case 'none':
      return {};
    case 'bearer':
      if (!creds.token) throw missing('a token');
      return { authorization: `Bearer ${creds.token}` };
    case 'basic': {
      if (!creds.username) throw missing('a username');
      const pair = `${creds.username}:${creds.password ?? ''}`;
      return { authorization: `Basic ${Buffer.from(pair, 'utf8').toString('base64')}` };
    }
    case 'header': {
      const name = authHeader.trim().toLowerCase();
      if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) throw missing('a valid header name');
      if (!creds.headerValue) throw missing('a header value');
      return { [name]: creds.headerValue };
    }
  }
}

/** What the core tls-config node gives through `addTLSOptions` (ca, cert, key, ...). */
export interface TlsSource {
  addTLSOptions?(opts: Record<string, unknown>): Record<string, unknown>;
  verifyservercert?: boolean;
  servername?: string;
}

export function tlsFromConfigNode(source: TlsSource | null | undefined): TlsOptions {
  if (!source) return { verify: true };
  const o: Record<string, unknown> = {};
  if (typeof source.addTLSOptions === 'function') source.addTLSOptions(o);
  const tls: TlsOptions = {
    // Verification stays on unless the tls-config node explicitly turns it off.
    verify: o.rejectUnauthorized !== false && source.verifyservercert !== false,
  };
  const pem = (v: unknown): string | Buffer | undefined =>
    typeof v === 'string' || Buffer.isBuffer(v) ? v : undefined;
  const ca = pem(o.ca);
  const cert = pem(o.cert);
  const key = pem(o.key);
  if (ca !== undefined) tls.ca = ca;
  if (cert !== undefined) tls.cert = cert;
  if (key !== undefined) tls.key = key;
  const servername = typeof o.servername === 'string' && o.servername ? o.servername : undefined;
  if (servername) tls.servername = servername;
  return tls;
}

export interface ClientSettings {
  /** Server node settings as saved or as the editor sends them (numbers may be strings). */
  config: Record<string, unknown>;
  credentials: ServerCredentials;
  tls?: TlsSource | null;
  userDir?: string;
}

/** Server node settings → createClient options. Throws INVALID_CONFIG with what to fix. */
export function clientOptions(settings: ClientSettings): ClientOptions {
  const c = settings.config;
  const mode = oneOf<ServerMode>('mode', c.mode ?? 'grpc', ['grpc', 'http', 'local']);
  const timeoutMs = Math.round(
    numberField('timeout', c.timeout ?? 30, { min: 0.001, max: 86400 }) * 1000,
  );
  if (mode === 'local') {
    return {
      mode,
      modelRepository: resolveRepository(String(c.modelRepository ?? ''), settings.userDir),
      timeoutMs,
    };
  }
  const host = String(c.host ?? '').trim();
  if (host === '') {
    throw new TritonError(
      'INVALID_CONFIG',
      `The server node has no host: enter the server's address`,
    );
  }
  const portField = mode === 'http' ? 'httpPort' : 'grpcPort';
  const port = numberField(portField, c[portField] ?? (mode === 'http' ? 8000 : 8001), {
    min: 1,
    max: 65535,
    integer: true,
  });
  const authType = oneOf<AuthType>('authType', c.authType ?? 'none', [
    'none',
    'bearer',
    'basic',
    'header',
  ]);
  const headers = authHeaders(authType, String(c.authHeader ?? ''), settings.credentials);
  const hostHeader = checkedString(c, 'hostHeader');
  const pathPrefix = mode === 'http' ? checkedString(c, 'pathPrefix').replace(/\/+$/, '') : '';
  // Behind an ingress the Host header (HTTP) or :authority (gRPC) picks the service.
  if (hostHeader && mode === 'http') headers.host = hostHeader;
  return {
    mode,
    host,
    port,
    timeoutMs,
    headers,
    tls: boolField(c.tls) ? tlsFromConfigNode(settings.tls) : false,
    ...(pathPrefix ? { pathPrefix } : {}),
    ...(hostHeader && mode === 'grpc' ? { authority: hostHeader } : {}),
  };
}

/** A string field checked against its rule in src/shared/options.ts (empty when unset). */
function checkedString(c: Record<string, unknown>, field: 'hostHeader' | 'pathPrefix'): string {
  const value = String(c[field] ?? '').trim();
  const rule = SERVER_OPTIONS[field];
  if (value !== '' && !rule.pattern.test(value)) {
    throw new TritonError(
      'INVALID_CONFIG',
      `'${field}' must be ${rule.message}, got ${JSON.stringify(value)}: fix it in the server node`,
    );
  }
  return value;
}

/**
 * The additional replicas of a server node (`replicas`: host:port separated by new lines,
 * spaces or commas). Throws INVALID_CONFIG naming the bad entry.
 */
export function replicaEndpoints(value: unknown): { host: string; port: number }[] {
  const text = String(value ?? '');
  const out: { host: string; port: number }[] = [];
  for (const entry of text.split(/[\s,]+/).filter((e) => e !== '')) {
    const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):([0-9]{1,5})$/.exec(entry);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535) {
      throw new TritonError(
        'INVALID_CONFIG',
        `Replica '${entry}' is not host:port (port 1..65535): give one replica per line, e.g. triton-2:8001`,
      );
    }
    out.push({ host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port });
  }
  return out;
}

/**
 * The client of a server node: a ReplicaClient over host:port and every replica (same
 * protocol, TLS, credentials, prefix and Host header). With no replicas it is the same
 * client over one endpoint, so a single server gets the same retries (UNAVAILABLE,
 * RESOURCE_EXHAUSTED, HTTP 502/503/504, with backoff inside the message's deadline).
 * Local mode has no connection to lose: its client is used as it is. With `retry: false`
 * (the editor's admin routes: a user waiting on Test connection wants the first answer)
 * nothing is sent again.
 */
export function createServerClient(
  settings: ClientSettings,
  { retry = true }: { retry?: boolean } = {},
): InferenceClient {
  const options = clientOptions(settings);
  if (options.mode === 'local') return createClient(options);
  const extra = replicaEndpoints(settings.config.replicas);
  // The editor's questions (model list, Test connection) want the answer at once.
  if (!retry && extra.length === 0) return createClient(options);
  const clients = [{ host: options.host!, port: options.port! }, ...extra].map((e) =>
    createClient({ ...options, host: e.host, port: e.port }),
  );
  try {
    return new ReplicaClient(clients, {
      timeoutMs: options.timeoutMs,
      ...(retry ? {} : { maxRetries: 0 }),
    });
  } catch (e) {
    for (const c of clients) void c.close().catch(() => undefined);
    throw e;
  }
}

/** A node status with the replica count added (`ready · 2/3 up`) when the server has replicas. */
export function withReplicas(
  status: NodeStatus,
  connection: ServerConnection | undefined,
): NodeStatus {
  const replicas = connection?.replicas;
  if (!replicas || !status.text) return status;
  return { ...status, text: `${status.text} · ${replicas.text}` };
}

/**
 * One client and its lifecycle. Users register to hear the connection state; they
 * report what their own calls found, which starts a probe when the server seems gone.
 */
export class ServerConnection {
  readonly cache = new ProfileCache();
  private stateValue: ConnectionState = 'connecting';
  private readonly users = new Set<ServerUser>();
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private attempt = 0;
  private closed = false;
  private readonly abort = new AbortController();
  private closing: Promise<void> | undefined;

  constructor(
    readonly client: InferenceClient,
    private readonly backoff: BackoffOptions = {},
  ) {
    if (client instanceof ReplicaClient && client.status().total > 1) {
      client.onStatus((status) => {
        for (const user of [...this.users]) {
          try {
            user.onReplicaStatus?.(status);
          } catch {
            // As for state changes: every user hears the news.
          }
        }
      });
    }
  }

  /** Where the replicas stand (`2/3 up`, retries...), when the node has several endpoints. */
  get replicas(): ReplicaStatus | undefined {
    if (!(this.client instanceof ReplicaClient)) return undefined;
    const status = this.client.status();
    return status.total > 1 ? status : undefined;
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get endpoint(): string {
    return this.client.endpoint;
  }

  /** Starts the first probe; until it answers the state is 'connecting'. */
  start(): void {
    this.scheduleProbe(0);
  }

  register(user: ServerUser): void {
    this.users.add(user);
    user.onServerState(this.stateValue);
  }

  deregister(user: ServerUser): void {
    this.users.delete(user);
  }

  /** A call went through: the server is there. */
  reportSuccess(): void {
    if (this.closed) return;
    this.attempt = 0;
    this.setState('connected');
  }

  /** A call failed: if the failure says "unreachable", find out whether the server is gone. */
  reportFailure(err: unknown): void {
    if (this.closed) return;
    const code = isTritonError(err) ? err.code : 'UNKNOWN';
    if (code === 'TRITON_UNAVAILABLE' || code === 'TIMEOUT') {
      if (code === 'TRITON_UNAVAILABLE') this.setState('down');
      this.scheduleProbe(0);
    }
  }

  /** Stops probing and closes the client. Idempotent. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.abort.abort();
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.users.clear();
      this.cache.invalidate();
      this.closing = this.client.close().catch(() => undefined);
    }
    return this.closing;
  }

  private setState(next: ConnectionState): void {
    if (next === this.stateValue) return;
    this.stateValue = next;
    for (const user of [...this.users]) {
      try {
        user.onServerState(next);
      } catch {
        // One user's failure must not keep the others from hearing the news.
      }
    }
  }

  private scheduleProbe(delayMs: number): void {
    if (this.closed || this.probing || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.probe();
    }, delayMs);
  }

  private async probe(): Promise<void> {
    if (this.closed) return;
    this.probing = true;
    let live = false;
    try {
      live = await this.client.serverLive({ signal: this.abort.signal });
    } catch {
      // The state says what happened; the error itself reaches users through their own calls.
    } finally {
      this.probing = false;
    }
    if (this.closed) return;
    if (live) {
      this.attempt = 0;
      this.setState('connected');
      return;
    }
    this.setState('down');
    this.scheduleProbe(backoffDelay(this.attempt++, this.backoff));
  }
}

/** Settings → a started connection. Throws INVALID_CONFIG (nothing opened) on bad settings. */
export function openConnection(
  settings: ClientSettings,
  backoff?: BackoffOptions,
): ServerConnection {
  const connection = new ServerConnection(createServerClient(settings), backoff);
  connection.start();
  return connection;
}
