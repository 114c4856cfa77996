/**
 * Node-RED `defaults` built from the option schema (src/shared/options.ts), so the editor
 * refuses exactly what the runtime refuses. Validators use Node-RED's two-argument form
 * `(value, opt)` and return `true` or a message: Node-RED >= 3.1 shows the message (red
 * border, the input's tooltip, the Deploy warning) only for a validator declared with two
 * parameters; a one-argument validator returning a string counts as valid.
 */
import { applies, isValid, type Schema } from '../../shared/options';

export const MODULE = 'node-red-contrib-triton-vision';

/** A catalog entry of a node type: `<module>/<type>:<type>.<key>`. */
export function message(type: string, key: string, vars?: Record<string, unknown>): string {
  return RED._(`${MODULE}/${type}:${type}.${key}`, vars);
}

/**
 * Another field's value while it is judged: the open dialog's input when there is one (the
 * node still holds the saved value), else the node's.
 */
function otherField(node: EditorNode, prefix: string): (field: string) => unknown {
  return (field) => {
    const el = $(`#${prefix}-${field}`);
    if (el.length) return el.prop('type') === 'checkbox' ? el.prop('checked') : el.val();
    return node[field];
  };
}

/** Editor `defaults` for `fields` of `schema`, each with its validator. */
export function editorDefaults(
  type: string,
  schema: Schema,
  fields: readonly string[],
  prefix: 'node-input' | 'node-config-input',
): Record<string, EditorProperty> {
  const out: Record<string, EditorProperty> = {};
  for (const field of fields) {
    const rule = schema[field]!;
    const value = Array.isArray(rule.default) ? [...rule.default] : rule.default;
    if (rule.kind === 'string' && rule.node) {
      out[field] = { value, type: rule.node, required: rule.node !== 'tls-config' };
      continue;
    }
    if (rule.kind === 'boolean' || rule.kind === 'list' || field === 'version') {
      out[field] = { value };
      continue;
    }
    out[field] = {
      value,
      // Two parameters on purpose: see the file comment.
      validate(this: EditorNode, v: unknown, _opt: unknown): boolean | string {
        if (!applies(rule, otherField(this, prefix))) return true;
        // A flow saved before the field existed lacks it: the runtime uses the default.
        if ((v === undefined || v === null) && !(rule.kind === 'string' && rule.required)) {
          return true;
        }
        return isValid(rule, v) || message(type, `validation.${field}`);
      },
    };
  }
  return out;
}
