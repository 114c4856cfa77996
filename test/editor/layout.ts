/**
 * The workspace as Node-RED would draw a flow: each node's box from its label (Node-RED's
 * sizing rule in src/shared/layout.ts, with a conservative estimate of the label's width in
 * the editor's 14 px sans-serif), the status line under it and the preview of a task node.
 */
import { catalog, type NodeType } from '../../src/editor/assemble';
import { taskLabel } from '../../src/shared/labels';
import {
  NODE_HEIGHT,
  PREVIEW_MAX_H,
  PREVIEW_MAX_W,
  STATUS_ROOM,
  nodeWidth,
  overlaps,
  previewSpot,
  type Box,
} from '../../src/shared/layout';

export type FlowNode = Record<string, unknown> & { id: string; type: string };

/**
 * Upper bound of a label's width in px at 14 px Helvetica/Arial: per-character widths rounded
 * up from Arial's advance widths (em = 14 px).
 */
export function labelWidth(text: string): number {
  let w = 0;
  for (const ch of text) {
    if (/[ijl.,:;'|!]/.test(ch)) w += 4;
    else if (/[frt ()[\]/\-·]/.test(ch)) w += 5;
    else if (/[mwMW@%]/.test(ch)) w += 12.5;
    else if (/[A-Z]/.test(ch)) w += 10;
    else w += 8;
  }
  return Math.ceil(w);
}

const TASKS: Record<string, string> = {
  'triton-detect': 'detect',
  'triton-segment': 'segment',
  'triton-classify': 'classify',
};

/** The label Node-RED shows for the node types our flows use. */
export function labelOf(n: FlowNode): string {
  const task = TASKS[n.type];
  if (task) return taskLabel(task, n.name, n.model);
  if (typeof n.name === 'string' && n.name !== '') return n.name;
  switch (n.type) {
    case 'triton-health':
      return 'triton health';
    case 'triton-track':
      return 'track';
    case 'http in':
      return `[${String(n.method)}] ${String(n.url)}`;
    case 'http response':
      return n.statusCode ? `http (${String(n.statusCode)})` : 'http';
    case 'debug':
      return n.complete === 'true' ? 'msg' : `msg.${String(n.complete ?? 'payload')}`;
    case 'catch':
      return 'catch: all';
    default:
      return n.type;
  }
}

/** Upper bound of a status text's width: Node-RED draws it at 11 px beside a 9 px dot. */
function statusTextWidth(text: string): number {
  return 15 + Math.ceil(text.length * 6.5);
}

/**
 * The widest status one of our nodes can show: its catalog's status texts and the short error
 * texts of a red ring (placeholders filled with three digits).
 */
export function widestStatus(type: string): number {
  const cat = catalog(type as NodeType)[type] as Record<string, Record<string, string>>;
  // Red rings show errors.<CODE>; the other errors.* entries are sentences for the log.
  const codes = Object.entries(cat.errors ?? {}).filter(([k]) => /^[A-Z_]+$/.test(k));
  const texts = [...Object.values(cat.status ?? {}), ...codes.map(([, t]) => t)];
  return Math.max(...texts.map((t) => statusTextWidth(t.replace(/__[a-zA-Z]+__/g, '000'))));
}

export interface Drawn {
  id: string;
  label: string;
  /** The node and its status line. */
  box: Box;
  /** Its widest status text, for our nodes. */
  status?: Box;
  /** Where its preview goes, for a task node with Preview on. */
  preview?: Box;
}

/** Boxes of the nodes of one tab (`z`), or of a flow without tabs (`z` undefined). */
export function draw(flow: FlowNode[], z?: string): Drawn[] {
  const nodes = flow.filter((n) => typeof n.x === 'number' && n.z === z);
  const drawn: Drawn[] = nodes.map((n) => {
    const label = labelOf(n);
    const hasInput = !['inject', 'http in', 'catch', 'comment', 'status', 'link in'].includes(
      n.type,
    );
    const w = nodeWidth(labelWidth(label), hasInput);
    // Our nodes and debug nodes showing a status draw a line of text under the node.
    const status = n.type.startsWith('triton-') || (n.type === 'debug' && n.tostatus === true);
    const box = {
      x: (n.x as number) - w / 2,
      y: (n.y as number) - NODE_HEIGHT / 2,
      w,
      h: NODE_HEIGHT + (status ? STATUS_ROOM : 0),
    };
    const drawn: Drawn = { id: n.id, label, box };
    if (n.type.startsWith('triton-')) {
      drawn.status = {
        x: box.x,
        y: box.y + NODE_HEIGHT,
        w: widestStatus(n.type),
        h: STATUS_ROOM,
      };
    }
    return drawn;
  });
  for (const [i, n] of nodes.entries()) {
    if (!TASKS[n.type] || n.preview !== true) continue;
    const me = drawn[i]!;
    const body = { ...me.box, h: NODE_HEIGHT };
    const others = drawn.filter((d) => d !== me).map((d) => d.box);
    const spot = previewSpot(body, others, PREVIEW_MAX_W, PREVIEW_MAX_H);
    me.preview = {
      x: body.x + spot.dx,
      y: body.y + spot.dy,
      w: PREVIEW_MAX_W,
      h: PREVIEW_MAX_H,
    };
  }
  return drawn;
}

/** Every pair of things that overlap: "a / b". */
export function collisions(drawn: Drawn[]): string[] {
  const items: { name: string; owner: string; box: Box }[] = [];
  for (const d of drawn) {
    items.push({ name: `${d.id} (${d.label})`, owner: d.id, box: d.box });
    if (d.status) items.push({ name: `status of ${d.id}`, owner: d.id, box: d.status });
    if (d.preview) items.push({ name: `preview of ${d.id}`, owner: d.id, box: d.preview });
  }
  const out: string[] = [];
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const a = items[i]!;
      const b = items[j]!;
      if (a.owner !== b.owner && overlaps(a.box, b.box)) out.push(`${a.name} / ${b.name}`);
    }
  }
  return out;
}
