/**
 * The little of Node-RED's editor API and jQuery that the editor code uses, typed by hand
 * (Node-RED ships no types for its editor). Ambient: the editor page defines `RED` and `$`.
 */

interface JQ {
  length: number;
  val(): unknown;
  val(value: unknown): JQ;
  text(): string;
  text(value: string): JQ;
  html(value: string): JQ;
  attr(name: string): string | undefined;
  attr(name: string, value: string): JQ;
  prop(name: string): unknown;
  prop(name: string, value: unknown): JQ;
  addClass(name: string): JQ;
  removeClass(name: string): JQ;
  toggleClass(name: string, on: boolean): JQ;
  toggle(show: boolean): JQ;
  on(events: string, handler: (this: HTMLElement, event: Event) => void): JQ;
  find(selector: string): JQ;
  filter(fn: (this: HTMLElement) => boolean): JQ;
  each(fn: (this: HTMLElement) => void): JQ;
  children(): JQ;
  append(content: JQ | string): JQ;
  empty(): JQ;
  remove(): JQ;
  typedInput(options: { default: string; types: string[] }): JQ;
}

interface JQXhr {
  done(fn: (res: unknown) => void): JQXhr;
  fail(fn: (xhr: { status?: number; statusText?: string; responseJSON?: unknown }) => void): JQXhr;
  always(fn: () => void): JQXhr;
}

interface JQStatic {
  (selector: string | HTMLElement): JQ;
  ajax(options: Record<string, unknown>): JQXhr;
}

/** A node as the editor holds it: its defaults' values plus Node-RED's bookkeeping. */
interface EditorNode {
  id: string;
  type: string;
  z?: string;
  x: number;
  y: number;
  w?: number;
  h?: number;
  name?: string;
  changed?: boolean;
  added?: boolean;
  credentials?: Record<string, unknown>;
  _def?: unknown;
  _(key: string, vars?: Record<string, unknown>): string;
  [field: string]: unknown;
}

interface EditorProperty {
  value: unknown;
  required?: boolean;
  type?: string;
  validate?: (this: EditorNode, value: unknown, opt?: unknown) => boolean | string;
}

interface NodeDefinition {
  category: string;
  color?: string;
  defaults: Record<string, EditorProperty>;
  credentials?: Record<string, { type: 'text' | 'password' }>;
  inputs?: number;
  outputs?: number;
  icon?: string;
  paletteLabel?: string;
  label: (this: EditorNode) => string;
  labelStyle?: (this: EditorNode) => string;
  oneditprepare?: (this: EditorNode) => void;
  oneditsave?: (this: EditorNode) => void;
  outputLabels?: string[] | ((this: EditorNode, index: number) => string);
}

/**
 * What the library gives a node type; its HTML adds the static parts (category, colour,
 * ports, icon, palette label) as literals, where tools that read the file can see them.
 */
type NodeBehaviour = Pick<
  NodeDefinition,
  | 'defaults'
  | 'credentials'
  | 'label'
  | 'labelStyle'
  | 'oneditprepare'
  | 'oneditsave'
  | 'outputLabels'
>;

interface RedApi {
  _(key: string, vars?: Record<string, unknown>): string;
  nodes: {
    registerType(type: string, def: NodeDefinition): void;
    node(id: string): EditorNode | null;
    eachNode(fn: (node: EditorNode) => boolean | void): void;
  };
  comms: { subscribe(topic: string, fn: (topic: string, data: unknown) => void): void };
  events: { on(event: string, fn: (node: EditorNode | undefined) => void): void };
  hooks?: {
    add(name: string, fn: (event: { node: EditorNode; el: PreviewHost }) => void): void;
  };
}

/** A node's SVG group in the workspace, with the preview we hang on it. */
interface PreviewHost extends SVGGElement {
  __data__?: unknown;
  __tritonVisionPreview__?: SVGGElement | null;
}

declare const RED: RedApi;
declare const $: JQStatic;

interface Window {
  TritonVisionEditor?: import('./library').Library;
  TritonVisionEditorPending?: ((lib: import('./library').Library) => void)[];
}
