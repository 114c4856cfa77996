/**
 * Geometry of the workspace that the editor and the layout test share: a node's box from its
 * label (Node-RED's own sizing rule) and where a result preview goes so that it covers no
 * other node. Pure functions.
 */

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Node-RED's default node size (view.js node_width / node_height). */
export const NODE_MIN_WIDTH = 100;
export const NODE_HEIGHT = 30;
/** Room under a node for its status dot and text. */
export const STATUS_ROOM = 20;
/** The largest preview thumbnail drawn in the workspace. */
export const PREVIEW_MAX_W = 200;
export const PREVIEW_MAX_H = 150;

/** Width of a node whose label is `labelWidth` px wide (Node-RED view.js). */
export function nodeWidth(labelWidth: number, hasInput: boolean): number {
  return Math.max(NODE_MIN_WIDTH, 20 * Math.ceil((labelWidth + 50 + (hasInput ? 7 : 0)) / 20));
}

export function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/**
 * Offset of a `w`×`h` preview from the top-left corner of `node` (a box): below it (under its
 * status line), else to its right, else above it; the first place none of `others` covers,
 * or below when every place is taken.
 */
export function previewSpot(
  node: Box,
  others: Box[],
  w: number,
  h: number,
): { dx: number; dy: number } {
  const candidates = [
    { dx: 0, dy: node.h + STATUS_ROOM },
    { dx: node.w + 10, dy: 0 },
    { dx: 0, dy: -h - 10 },
  ];
  for (const c of candidates) {
    const box = { x: node.x + c.dx, y: node.y + c.dy, w, h };
    // Never off the top or left edge of the workspace, where nobody can scroll to it.
    if (box.x < 0 || box.y < 0) continue;
    if (!others.some((o) => overlaps(box, o))) return c;
  }
  return candidates[0]!;
}
