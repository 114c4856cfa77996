/** Status text from the catalog: keys under `<type>.status.*` and `<type>.errors.*`. */
import type { NodeAPI, NodeStatus } from './types';

export class StatusText {
  constructor(
    private readonly RED: NodeAPI,
    private readonly type: string,
  ) {}

  text(key: string, subs?: Record<string, unknown>): string {
    return this.RED._(`${this.type}.${key}`, subs);
  }

  ring(fill: 'yellow' | 'red', key: string, subs?: Record<string, unknown>): NodeStatus {
    return { fill, shape: 'ring', text: this.text(key, subs) };
  }

  dot(fill: 'blue' | 'green', key: string, subs?: Record<string, unknown>): NodeStatus {
    return { fill, shape: 'dot', text: this.text(key, subs) };
  }

  error(code: string): NodeStatus {
    return this.ring('red', `errors.${code}`);
  }
}
