/** The editor definition of the triton-server config node. */
import { SERVER_CREDENTIALS, SERVER_OPTIONS } from '../../shared/options';
import { ajaxFailure, bodyFromServerForm, post } from './admin';
import { editorDefaults } from './validate';

const FIELDS = Object.keys(SERVER_OPTIONS);

export function serverNode(): NodeBehaviour {
  return {
    defaults: editorDefaults('triton-server', SERVER_OPTIONS, FIELDS, 'node-config-input'),
    credentials: Object.fromEntries(
      Object.entries(SERVER_CREDENTIALS).map(([k, type]) => [k, { type }]),
    ),
    label(this: EditorNode): string {
      if (this.name) return this.name;
      if (this.mode === 'local') return `local: ${String(this.modelRepository || 'demo')}`;
      const port = this.mode === 'http' ? this.httpPort : this.grpcPort;
      let scheme = this.mode === 'http' ? 'http' : 'grpc';
      if (this.tls) scheme += 's';
      const extra = String(this.replicas ?? '')
        .split(/[\s,]+/)
        .filter((e) => e !== '').length;
      const prefix = this.mode === 'http' ? String(this.pathPrefix ?? '') : '';
      const url = `${scheme}://${String(this.host || '127.0.0.1')}:${String(port)}${prefix}`;
      return extra > 0 ? `${url} +${extra}` : url;
    },
    oneditprepare(this: EditorNode): void {
      prepareServerDialog(this);
    },
  };
}

function prepareServerDialog(node: EditorNode): void {
  if (!node.mode) $('#node-config-input-mode').val(SERVER_OPTIONS.mode.default);
  if (!node.authType) $('#node-config-input-authType').val(SERVER_OPTIONS.authType.default);

  function refreshRows(): void {
    const mode = String($('#node-config-input-mode').val());
    const remote = mode !== 'local';
    const auth = String($('#node-config-input-authType').val());
    $('.triton-server-remote').toggle(remote);
    $('.triton-server-local').toggle(!remote);
    $('.triton-server-http').toggle(mode === 'http');
    $('.triton-server-grpc').toggle(mode === 'grpc');
    $('.triton-server-tls').toggle(remote && $('#node-config-input-tls').prop('checked') === true);
    $('.triton-server-auth-bearer').toggle(remote && auth === 'bearer');
    $('.triton-server-auth-basic').toggle(remote && auth === 'basic');
    $('.triton-server-auth-header').toggle(remote && auth === 'header');
  }
  $('#node-config-input-mode').on('change', refreshRows);
  $('#node-config-input-authType').on('change', refreshRows);
  $('#node-config-input-tls').on('change', refreshRows);
  refreshRows();

  const result = $('#triton-server-test-result');
  // A result describes the settings it was made with: any edit makes it stale.
  let testSeq = 0;
  $('.triton-vision-form input, .triton-vision-form select, .triton-vision-form textarea').on(
    'input change',
    function () {
      if (this.id === 'triton-server-test') return;
      testSeq++;
      result.removeClass('triton-ok').removeClass('triton-failed').text('');
    },
  );

  $('#triton-server-test').on('click', function (e) {
    e.preventDefault();
    const button = $(this);
    const seq = ++testSeq;
    button.prop('disabled', true);
    result
      .removeClass('triton-ok')
      .removeClass('triton-failed')
      .text(node._('triton-server.test.testing'));
    post('triton-vision/test', bodyFromServerForm(node.id))
      .done((raw) => {
        if (seq !== testSeq) return;
        const res = (raw ?? {}) as {
          ok?: boolean;
          server?: { name?: string; version?: string };
          live?: boolean;
          ready?: boolean;
          runtime?: string;
          runtimeNote?: string;
          code?: string;
          message?: string;
        };
        if (res.ok) {
          const vars = {
            name: res.server?.name ?? '',
            version: res.server?.version ?? '',
            live: String(res.live),
            ready: String(res.ready),
            runtime: res.runtime ?? '',
          };
          // Local mode names the onnxruntime its models run on (and how to get a faster one).
          const lines = [
            node._(res.runtime ? 'triton-server.test.okLocal' : 'triton-server.test.ok', vars),
          ];
          if (res.runtimeNote) lines.push(res.runtimeNote);
          result.addClass('triton-ok').text(lines.join('\n'));
        } else {
          result.addClass('triton-failed').text(
            node._('triton-server.test.failed', {
              code: res.code || 'UNKNOWN',
              message: res.message || '',
            }),
          );
        }
      })
      .fail((xhr) => {
        if (seq !== testSeq) return;
        result
          .addClass('triton-failed')
          .text(node._('triton-server.test.requestFailed', { status: ajaxFailure(xhr).message }));
      })
      .always(() => {
        button.prop('disabled', false);
      });
  });
}
