/**
 * The editor's side of the admin routes (src/nodes/admin.ts): which server to ask about, and
 * the calls themselves.
 */
import { SERVER_CREDENTIALS, SERVER_OPTIONS } from '../../shared/options';

const PASSWORD_PLACEHOLDER = '__PWRD__';
const CONFIG_FIELDS = Object.keys(SERVER_OPTIONS).filter((f) => f !== 'name' && f !== 'version');
const CREDENTIAL_FIELDS = Object.keys(SERVER_CREDENTIALS);

export interface AdminBody {
  id: string;
  config?: Record<string, unknown>;
  credentials?: Record<string, unknown>;
}

/**
 * Body for the admin endpoints from a triton-server node as the editor holds it. A node that
 * is deployed and unchanged is named by id only, so the runtime reuses its client; a new or
 * edited one also sends its current values (stored passwords travel as the placeholder and
 * the runtime fills them from the deployed node).
 */
export function bodyForServerNode(server: EditorNode | null): AdminBody | null {
  if (!server) return null;
  const body: AdminBody = { id: server.id };
  if (server.changed || server.added) {
    const config: Record<string, unknown> = {};
    for (const f of CONFIG_FIELDS) config[f] = server[f];
    const creds = server.credentials ?? {};
    const sent: Record<string, unknown> = {};
    for (const f of CREDENTIAL_FIELDS) {
      if (typeof creds[f] === 'string') sent[f] = creds[f];
      else if (creds[`has_${f}`]) sent[f] = PASSWORD_PLACEHOLDER;
    }
    body.config = config;
    body.credentials = sent;
  }
  return body;
}

/** Body from the open triton-server dialog (its form's current values). */
export function bodyFromServerForm(nodeId: string): AdminBody {
  const config: Record<string, unknown> = {};
  for (const f of CONFIG_FIELDS) {
    const el = $(`#node-config-input-${f}`);
    config[f] = el.prop('type') === 'checkbox' ? el.prop('checked') : el.val();
  }
  if (config.tlsConfig === '_ADD_') config.tlsConfig = '';
  const credentials: Record<string, unknown> = {};
  for (const f of CREDENTIAL_FIELDS) {
    const v = $(`#node-config-input-${f}`).val();
    if (typeof v === 'string' && v !== '') credentials[f] = v;
  }
  return { id: nodeId, config, credentials };
}

export function post(path: string, body: unknown): JQXhr {
  return $.ajax({
    url: path,
    type: 'POST',
    contentType: 'application/json',
    data: JSON.stringify(body),
    dataType: 'json',
    timeout: 120000,
  });
}

/** What the admin route answered with an error: its code and sentence when it sent them. */
export function ajaxFailure(xhr: {
  status?: number;
  statusText?: string;
  responseJSON?: unknown;
}): { code?: string; message: string } {
  const json = xhr?.responseJSON as { code?: unknown; message?: unknown } | undefined;
  if (json && typeof json.message === 'string') {
    return typeof json.code === 'string'
      ? { code: json.code, message: json.message }
      : { message: json.message };
  }
  return { message: String(xhr?.status || xhr?.statusText || 'no answer') };
}
