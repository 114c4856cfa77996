/**
 * Lines and zones as users write them — `"x1,y1,x2,y2"` on a command line, `[x1, y1, x2, y2]`
 * or `{start: {x, y}, end: {x, y}}` in a message, `"x1,y1,x2,y2,x3,y3"`, `[[x, y], ...]` or
 * `{polygon: [{x, y}, ...]}` for a zone — read in one place into LineSpec / ZoneSpec.
 */
import { TritonError } from '../../protocol/errors';
import type { LineSpec, ZoneSpec } from './streams';
import type { Point } from './zones';

function bad(what: string, expected: string, got: unknown): TritonError {
  const shown = typeof got === 'string' ? `'${got}'` : (JSON.stringify(got) ?? String(got));
  return new TritonError('INVALID_OPTION', `${what} needs ${expected}, got ${shown}`);
}

/** Numbers from "1,2,3" or [1, 2, 3]; undefined when the value is neither. */
function flatNumbers(value: unknown): number[] | undefined {
  if (typeof value === 'string') {
    const parts = value.split(',').map((s) => s.trim());
    const nums = parts.map((s) => (s === '' ? NaN : Number(s)));
    return nums;
  }
  if (Array.isArray(value) && value.every((v) => typeof v === 'number')) return value as number[];
  return undefined;
}

function point(value: unknown): Point | undefined {
  if (Array.isArray(value) && value.length === 2)
    return { x: value[0] as number, y: value[1] as number };
  if (value && typeof value === 'object') {
    const p = value as { x?: unknown; y?: unknown };
    return { x: p.x as number, y: p.y as number };
  }
  return undefined;
}

const finite = (p: Point | undefined): p is Point =>
  !!p &&
  typeof p.x === 'number' &&
  typeof p.y === 'number' &&
  Number.isFinite(p.x) &&
  Number.isFinite(p.y);

/** One counting line; `index` is 0-based and only used in messages. */
export function parseLine(value: unknown, index = 0): LineSpec {
  const what = `Line ${index + 1}`;
  const expected = 'x1,y1,x2,y2 (4 numbers) or {start: {x, y}, end: {x, y}}';
  const nums = flatNumbers(value);
  if (nums) {
    if (nums.length !== 4 || !nums.every(Number.isFinite)) throw bad(what, expected, value);
    return { start: { x: nums[0], y: nums[1] }, end: { x: nums[2], y: nums[3] } };
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as { start?: unknown; end?: unknown; name?: unknown };
    const start = point(v.start);
    const end = point(v.end);
    if (!finite(start) || !finite(end)) throw bad(what, expected, value);
    if (v.name !== undefined && typeof v.name !== 'string')
      throw bad(what, 'a string name', v.name);
    return { start, end, ...(typeof v.name === 'string' ? { name: v.name } : {}) };
  }
  throw bad(what, expected, value);
}

/** One polygon zone (3 points or more). */
export function parseZone(value: unknown, index = 0): ZoneSpec {
  const what = `Zone ${index + 1}`;
  const expected = 'x1,y1,x2,y2,x3,y3,... (3 points or more) or {polygon: [{x, y}, ...]}';
  let polygon: (Point | undefined)[] | undefined;
  let name: unknown;
  const nums = flatNumbers(value);
  if (nums) {
    if (nums.length % 2 !== 0) throw bad(what, expected, value);
    polygon = [];
    for (let i = 0; i < nums.length; i += 2) polygon.push({ x: nums[i], y: nums[i + 1] });
  } else if (Array.isArray(value)) {
    polygon = value.map(point);
  } else if (value && typeof value === 'object') {
    const v = value as { polygon?: unknown; name?: unknown };
    if (Array.isArray(v.polygon)) polygon = v.polygon.map(point);
    name = v.name;
    if (name !== undefined && typeof name !== 'string') throw bad(what, 'a string name', name);
  }
  if (!polygon || polygon.length < 3 || !polygon.every(finite)) throw bad(what, expected, value);
  return { polygon: polygon as Point[], ...(typeof name === 'string' ? { name } : {}) };
}

/** Lists of lines and zones (either may be missing). */
export function parseGeometry(value: { lines?: unknown; zones?: unknown }): {
  lines: LineSpec[];
  zones: ZoneSpec[];
} {
  const list = (v: unknown, what: string): unknown[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw bad(what, 'an array', v);
    return v;
  };
  return {
    lines: list(value.lines, 'lines').map(parseLine),
    zones: list(value.zones, 'zones').map(parseZone),
  };
}
