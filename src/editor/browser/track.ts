/**
 * The editor definition of the triton-track node: defaults and validators from the option
 * schema (TRACK_OPTIONS: bad coordinates get a red border), its label, output labels, and the
 * dialog's typed stream property and crop rows.
 */
import { TRACK_OPTIONS } from '../../shared/options';
import { editorDefaults, message } from './validate';

const TYPE = 'triton-track';

export function trackNode(): NodeBehaviour {
  return {
    defaults: editorDefaults(TYPE, TRACK_OPTIONS, Object.keys(TRACK_OPTIONS), 'node-input'),
    label(this: EditorNode): string {
      return this.name || 'track';
    },
    labelStyle(this: EditorNode): string {
      return this.name ? 'node_label_italic' : '';
    },
    outputLabels(this: EditorNode, index: number): string {
      return message(TYPE, index === 0 ? 'outputs.tracked' : 'outputs.events');
    },
    oneditprepare(this: EditorNode): void {
      // A msg property picker, as core nodes offer (the value stays a plain property path).
      $('#node-input-streamProperty').typedInput({ default: 'msg', types: ['msg'] });
      const crops = $('#node-input-crops');
      const showCrops = (): void => {
        $('.triton-track-crops').toggle(crops.prop('checked') === true);
      };
      crops.on('change', showCrops);
      showCrops();
    },
  };
}
