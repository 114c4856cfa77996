/** The editor definition of the triton-health node. */
import { HEALTH_OPTIONS } from '../../shared/options';
import { bodyForServerNode, post } from './admin';
import { editorDefaults } from './validate';

export function healthNode(): NodeBehaviour {
  return {
    defaults: editorDefaults(
      'triton-health',
      HEALTH_OPTIONS,
      Object.keys(HEALTH_OPTIONS),
      'node-input',
    ),
    label(this: EditorNode): string {
      return this.name || 'triton health';
    },
    labelStyle(this: EditorNode): string {
      return this.name ? 'node_label_italic' : '';
    },
    oneditprepare(this: EditorNode): void {
      const list = $('#triton-health-model-list');
      let names: string[] = [];
      // Offers the server's model names as completions for the comma-separated field.
      function renderList(): void {
        const typed = String($('#node-input-models').val() || '').split(',');
        typed.pop();
        const prefix = typed.length ? `${typed.join(',')},` : '';
        list.empty();
        for (const name of names) list.append($('<option></option>').val(prefix + name));
      }
      function loadNames(): void {
        const serverId = String($('#node-input-server').val() || '');
        const server = serverId && serverId !== '_ADD_' ? RED.nodes.node(serverId) : null;
        names = [];
        renderList();
        if (!server) return;
        post('triton-vision/models', bodyForServerNode(server)).done((res) => {
          const models = (res as { models?: { name: string }[] } | null)?.models ?? [];
          names = [...new Set(models.map((m) => m.name))];
          renderList();
        });
      }
      $('#node-input-server').on('change', loadNames);
      $('#node-input-models').on('input', renderList);
      if (!this.emit) $('#node-input-emit').val(HEALTH_OPTIONS.emit.default);
    },
  };
}
