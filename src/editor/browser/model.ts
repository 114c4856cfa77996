/** The editor definition of the triton-model node. */
import { MODEL_OPTIONS } from '../../shared/options';
import { bodyForServerNode, post } from './admin';
import { editorDefaults } from './validate';

export function modelNode(): NodeBehaviour {
  return {
    defaults: editorDefaults(
      'triton-model',
      MODEL_OPTIONS,
      Object.keys(MODEL_OPTIONS),
      'node-input',
    ),
    label(this: EditorNode): string {
      if (this.name) return this.name;
      const action = String(this.action || MODEL_OPTIONS.action.default);
      return action === 'list' || !this.model
        ? `triton ${action}`
        : `triton ${action} ${String(this.model)}`;
    },
    labelStyle(this: EditorNode): string {
      return this.name ? 'node_label_italic' : '';
    },
    oneditprepare(this: EditorNode): void {
      if (!this.action) $('#node-input-action').val(MODEL_OPTIONS.action.default);
      const list = $('#triton-model-model-list');
      function refreshRows(): void {
        $('.triton-model-named').toggle($('#node-input-action').val() !== 'list');
      }
      // Offers the server's model names (the repository, loaded or not) as completions.
      function loadNames(): void {
        const serverId = String($('#node-input-server').val() || '');
        const server = serverId && serverId !== '_ADD_' ? RED.nodes.node(serverId) : null;
        list.empty();
        if (!server) return;
        post('triton-vision/models', bodyForServerNode(server)).done((res) => {
          const models = (res as { models?: { name: string }[] } | null)?.models ?? [];
          for (const name of new Set(models.map((m) => m.name))) {
            list.append($('<option></option>').val(name));
          }
        });
      }
      $('#node-input-action').on('change', refreshRows);
      $('#node-input-server').on('change', loadNames);
      refreshRows();
    },
  };
}
