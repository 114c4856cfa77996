/**
 * Integer polygon rasterisation with OpenCV's `fillPoly` rule (8-connected outline plus a
 * scanline fill in 16.16 fixed point), so that a zone's membership on slanted edges is
 * decided pixel for pixel as supervision's PolygonZone decides it (it tests anchors against
 * a `cv2.fillPoly` mask). Written from the published algorithm; checked against cv2 by the
 * reference fixtures in test/track.
 */

const XY_SHIFT = 16;
const XY_ONE = 1 << XY_SHIFT;

/** Arithmetic right shift by 16 of an integer held in a double (beyond 32 bits). */
const sar = (v: number): number => Math.floor(v / XY_ONE);
/** C integer division (truncates toward zero). */
const idiv = (a: number, b: number): number => Math.trunc(a / b);

interface Pt {
  x: number;
  y: number;
}

/** Cohen–Sutherland clipping of a segment to [0, w-1] × [0, h-1], in place. */
function clipLine(w: number, h: number, p1: Pt, p2: Pt): boolean {
  const right = w - 1;
  const bottom = h - 1;
  if (w <= 0 || h <= 0) return false;
  const code = (p: Pt): number =>
    (p.x < 0 ? 1 : 0) + (p.x > right ? 2 : 0) + (p.y < 0 ? 4 : 0) + (p.y > bottom ? 8 : 0);
  let c1 = code(p1);
  let c2 = code(p2);
  if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
    if (c1 & 12) {
      const a = c1 < 8 ? 0 : bottom;
      p1.x += idiv((a - p1.y) * (p2.x - p1.x), p2.y - p1.y);
      p1.y = a;
      c1 = (p1.x < 0 ? 1 : 0) + (p1.x > right ? 2 : 0);
    }
    if (c2 & 12) {
      const a = c2 < 8 ? 0 : bottom;
      p2.x += idiv((a - p2.y) * (p2.x - p1.x), p2.y - p1.y);
      p2.y = a;
      c2 = (p2.x < 0 ? 1 : 0) + (p2.x > right ? 2 : 0);
    }
    if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
      if (c1) {
        const a = c1 === 1 ? 0 : right;
        p1.y += idiv((a - p1.x) * (p2.y - p1.y), p2.x - p1.x);
        p1.x = a;
        c1 = 0;
      }
      if (c2) {
        const a = c2 === 1 ? 0 : right;
        p2.y += idiv((a - p2.x) * (p2.y - p1.y), p2.x - p1.x);
        p2.x = a;
        c2 = 0;
      }
    }
  }
  return (c1 | c2) === 0;
}

/** 8-connected Bresenham line, drawn left to right, clipped to the image. */
function line(mask: Uint8Array, w: number, h: number, a: Pt, b: Pt): void {
  let p1 = { ...a };
  let p2 = { ...b };
  if (
    p1.x < 0 ||
    p1.x >= w ||
    p2.x < 0 ||
    p2.x >= w ||
    p1.y < 0 ||
    p1.y >= h ||
    p2.y < 0 ||
    p2.y >= h
  ) {
    if (!clipLine(w, h, p1, p2)) return;
  }
  if (p2.x < p1.x) [p1, p2] = [p2, p1];
  const dx = p2.x - p1.x;
  let dy = p2.y - p1.y;
  const ys = dy < 0 ? -1 : 1;
  dy = Math.abs(dy);
  const yMajor = dy > dx;
  const dMaj = yMajor ? dy : dx;
  const dMin = yMajor ? dx : dy;
  let err = dMaj - 2 * dMin;
  let { x, y } = p1;
  for (let i = 0; i <= dMaj; i++) {
    mask[y * w + x] = 1;
    const minor = err < 0;
    err += -2 * dMin + (minor ? 2 * dMaj : 0);
    if (yMajor) {
      y += ys;
      if (minor) x += 1;
    } else {
      x += 1;
      if (minor) y += ys;
    }
  }
}

interface Edge {
  y0: number;
  y1: number;
  x: number;
  dx: number;
  next: Edge | null;
}

/**
 * Fills a polygon with integer vertices into a `w × h` mask (1 inside), as
 * `cv2.fillPoly(mask, [points], 1)` with 8-connected lines and no shift.
 */
export function fillPoly(
  points: readonly (readonly [number, number])[],
  w: number,
  h: number,
  mask = new Uint8Array(w * h),
): Uint8Array {
  const n = points.length;
  if (n === 0) return mask;
  const edges: Edge[] = [];
  let prev = { x: points[n - 1][0] * XY_ONE, y: points[n - 1][1] };
  for (let i = 0; i < n; i++) {
    const cur = { x: points[i][0] * XY_ONE, y: points[i][1] };
    const t0 = { x: sar(prev.x + (XY_ONE >> 1)), y: prev.y };
    const t1 = { x: sar(cur.x + (XY_ONE >> 1)), y: cur.y };
    line(mask, w, h, t0, t1);
    let c0y = prev.y;
    let c1y = cur.y;
    if (
      t0.x < 0 ||
      t0.x >= w ||
      t1.x < 0 ||
      t1.x >= w ||
      t0.y < 0 ||
      t0.y >= h ||
      t1.y < 0 ||
      t1.y >= h
    ) {
      // Edges start from the clipped end points, as OpenCV does.
      clipLine(w, h, t0, t1);
      if (t0.y !== t1.y) {
        c0y = t0.y;
        c1y = t1.y;
      }
    }
    const c0x = t0.x * XY_ONE;
    const c1x = t1.x * XY_ONE;
    if (prev.y !== cur.y) {
      const dx = idiv(c1x - c0x, c1y - c0y);
      if (prev.y < cur.y) {
        edges.push({ y0: prev.y, y1: cur.y, x: c0x + (prev.y - c0y) * dx, dx, next: null });
      } else {
        edges.push({ y0: cur.y, y1: prev.y, x: c1x + (cur.y - c1y) * dx, dx, next: null });
      }
    }
    prev = cur;
  }
  fillEdges(mask, w, h, edges);
  return mask;
}

function fillEdges(mask: Uint8Array, w: number, h: number, edges: Edge[]): void {
  const total = edges.length;
  if (total < 2) return;
  const delta = XY_ONE - 1;
  let yMin = Infinity;
  let yMax = -Infinity;
  let xMin = Infinity;
  let xMax = -Infinity;
  for (const e of edges) {
    const x1 = e.x + (e.y1 - e.y0) * e.dx;
    yMin = Math.min(yMin, e.y0);
    yMax = Math.max(yMax, e.y1);
    xMin = Math.min(xMin, e.x, x1);
    xMax = Math.max(xMax, e.x, x1);
  }
  if (yMax < 0 || yMin >= h || xMax < 0 || xMin >= w * XY_ONE) return;
  edges.sort((a, b) => a.y0 - b.y0 || a.x - b.x || a.dx - b.dx);
  const sentinel: Edge = { y0: Number.MAX_SAFE_INTEGER, y1: 0, x: 0, dx: 0, next: null };
  edges.push(sentinel);
  const head: Edge = { y0: 0, y1: 0, x: 0, dx: 0, next: null };
  let i = 0;
  let e = edges[0];
  yMax = Math.min(yMax, h);
  for (let y = e.y0; y < yMax; y++) {
    let draw = false;
    const clip = y < 0;
    let prelast: Edge = head;
    let last = head.next;
    while (last || e.y0 === y) {
      if (last && last.y1 === y) {
        // The edge ends on this row: drop it from the active list.
        prelast.next = last.next;
        last = last.next;
        continue;
      }
      const keep = prelast;
      if (last && (e.y0 > y || last.x < e.x)) {
        prelast = last;
        last = last.next;
      } else if (i < total) {
        prelast.next = e;
        e.next = last;
        prelast = e;
        e = edges[++i];
      } else {
        break;
      }
      if (draw) {
        if (!clip) {
          let x1: number;
          let x2: number;
          if (keep.x > prelast.x) {
            x1 = sar(prelast.x + delta);
            x2 = sar(keep.x);
          } else {
            x1 = sar(keep.x + delta);
            x2 = sar(prelast.x);
          }
          if (x1 < w && x2 >= 0) {
            x1 = Math.max(x1, 0);
            x2 = Math.min(x2, w - 1);
            mask.fill(1, y * w + x1, y * w + x2 + 1);
          }
        }
        keep.x += keep.dx;
        prelast.x += prelast.dx;
      }
      draw = !draw;
    }
    // Keep the active list sorted by x (bubble sort over the linked list).
    let keepLast: Edge | null = null;
    do {
      prelast = head;
      last = head.next;
      let lastExchange: Edge | null = null;
      while (last !== keepLast && last && last.next) {
        const te: Edge = last.next;
        if (last.x > te.x) {
          prelast.next = te;
          last.next = te.next;
          te.next = last;
          prelast = te;
          lastExchange = prelast;
        } else {
          prelast = last;
          last = te;
        }
      }
      if (!lastExchange) break;
      keepLast = lastExchange;
    } while (keepLast !== head.next && keepLast !== head);
  }
}
