/**
 * Optimal assignment for the tracker: a shortest-augmenting-path solver (Crouse, "On
 * implementing 2D rectangular assignment algorithms", 2016 — the algorithm SciPy's
 * `linear_sum_assignment` uses), including its tie-breaking, so that equal-cost choices
 * fall the same way as in supervision's ByteTrack.
 */

/** A dense row-major cost matrix: `data: [rows * cols]`. */
export interface CostMatrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function costMatrix(rows: number, cols: number, fill = 0): CostMatrix {
  const data = new Float64Array(rows * cols);
  if (fill !== 0) data.fill(fill);
  return { rows, cols, data };
}

/**
 * Minimum-cost assignment of a rectangular matrix: every row of the smaller side gets
 * exactly one column. Returns the pairs sorted by row. Costs must be finite.
 */
export function linearSumAssignment(m: CostMatrix): [number, number][] {
  let nr = m.rows;
  let nc = m.cols;
  if (nr === 0 || nc === 0) return [];
  const transpose = nc < nr;
  let cost = m.data;
  if (transpose) {
    cost = new Float64Array(nr * nc);
    for (let i = 0; i < nr; i++) for (let j = 0; j < nc; j++) cost[j * nr + i] = m.data[i * nc + j];
    [nr, nc] = [nc, nr];
  }
  const u = new Float64Array(nr);
  const v = new Float64Array(nc);
  const shortest = new Float64Array(nc);
  const path = new Int32Array(nc).fill(-1);
  const col4row = new Int32Array(nr).fill(-1);
  const row4col = new Int32Array(nc).fill(-1);
  const sr = new Uint8Array(nr);
  const sc = new Uint8Array(nc);
  const remaining = new Int32Array(nc);

  for (let curRow = 0; curRow < nr; curRow++) {
    // Shortest augmenting path from curRow.
    let minVal = 0;
    let numRemaining = nc;
    // Reverse order: a constant matrix is solved by the identity, as in SciPy.
    for (let it = 0; it < nc; it++) remaining[it] = nc - it - 1;
    sr.fill(0);
    sc.fill(0);
    shortest.fill(Infinity);
    let sink = -1;
    let i = curRow;
    while (sink === -1) {
      let index = -1;
      let lowest = Infinity;
      sr[i] = 1;
      for (let it = 0; it < numRemaining; it++) {
        const j = remaining[it];
        const r = minVal + cost[i * nc + j] - u[i] - v[j];
        if (r < shortest[j]) {
          path[j] = i;
          shortest[j] = r;
        }
        if (shortest[j] < lowest || (shortest[j] === lowest && row4col[j] === -1)) {
          lowest = shortest[j];
          index = it;
        }
      }
      minVal = lowest;
      if (minVal === Infinity) throw new Error('cost matrix is infeasible');
      const j = remaining[index];
      if (row4col[j] === -1) sink = j;
      else i = row4col[j];
      sc[j] = 1;
      remaining[index] = remaining[--numRemaining];
    }
    // Dual update.
    u[curRow] += minVal;
    for (let r = 0; r < nr; r++) {
      if (sr[r] && r !== curRow) u[r] += minVal - shortest[col4row[r]];
    }
    for (let c = 0; c < nc; c++) {
      if (sc[c]) v[c] -= minVal - shortest[c];
    }
    // Augment.
    let j = sink;
    for (;;) {
      const r = path[j];
      row4col[j] = r;
      const prev = col4row[r];
      col4row[r] = j;
      j = prev;
      if (r === curRow) break;
    }
  }

  const pairs: [number, number][] = [];
  if (transpose) {
    // col4row holds, per original column, its original row: report by original row.
    for (let c = 0; c < nr; c++) pairs.push([col4row[c], c]);
    pairs.sort((a, b) => a[0] - b[0]);
  } else {
    for (let r = 0; r < nr; r++) pairs.push([r, col4row[r]]);
  }
  return pairs;
}

export interface Assignment {
  /** [row, column] pairs whose cost is at most the threshold, by row. */
  matches: [number, number][];
  unmatchedRows: number[];
  unmatchedCols: number[];
}

/**
 * Gated assignment as ByteTrack does it: costs above `thresh` are first raised to `capped`
 * (`thresh + 1e-4` in the matrix's precision), the whole matrix is solved, and pairs costing
 * more than `thresh` are dropped. The unmatched lists come in the order the reference walks
 * them. Mutates `m`.
 */
export function linearAssignment(
  m: CostMatrix,
  thresh: number,
  capped = thresh + 1e-4,
): Assignment {
  if (m.rows === 0 || m.cols === 0) {
    return {
      matches: [],
      unmatchedRows: range(m.rows),
      unmatchedCols: range(m.cols),
    };
  }
  for (let k = 0; k < m.data.length; k++) if (m.data[k] > thresh) m.data[k] = capped;
  const matches = linearSumAssignment(m).filter(([r, c]) => m.data[r * m.cols + c] <= thresh);
  const rowUsed = new Uint8Array(m.rows);
  const colUsed = new Uint8Array(m.cols);
  for (const [r, c] of matches) {
    rowUsed[r] = 1;
    colUsed[c] = 1;
  }
  return {
    matches,
    unmatchedRows: setDifferenceOrder(m.rows, matches.length, rowUsed),
    unmatchedCols: setDifferenceOrder(m.cols, matches.length, colUsed),
  };
}

/**
 * `set(range(n)) - set(used)` in CPython's iteration order: when the first set is over four
 * times larger it is copied and pruned (ascending order); otherwise the survivors are
 * inserted one by one into a fresh set (see pySetOrder).
 */
export function setDifferenceOrder(n: number, usedCount: number, used: Uint8Array): number[] {
  const rest = range(n).filter((k) => !used[k]);
  return n >> 2 > usedCount ? rest : pySetOrder(rest);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * The iteration order of a CPython set of small non-negative ints built by inserting
 * `ascending` in order (what `set(range(n)) - set(matched)` yields): ints hash to
 * themselves, so they sit at `value & mask` with linear probing, in a table that grows
 * ×4 whenever it is 3/5 full. The reference walks its unmatched lists in this order,
 * which decides the order of its track lists and so its tie-breaks.
 */
export function pySetOrder(ascending: number[]): number[] {
  let size = 8;
  let table: number[] = new Array<number>(size).fill(-1);
  let used = 0;
  const insert = (t: number[], mask: number, key: number): void => {
    let slot = key & mask;
    let perturb = key;
    for (;;) {
      // The slot and its 9 neighbours when they fit in the table, else the slot alone;
      // then a perturbed jump, as CPython does.
      const probes = slot + 9 <= mask ? 9 : 0;
      for (let probe = 0; probe <= probes; probe++) {
        if (t[slot + probe] === -1) {
          t[slot + probe] = key;
          return;
        }
      }
      perturb >>>= 5;
      slot = (slot * 5 + 1 + perturb) & mask;
    }
  };
  for (const key of ascending) {
    insert(table, size - 1, key);
    used++;
    if (used * 5 >= (size - 1) * 3) {
      let newSize = 8;
      const minUsed = used > 50000 ? used * 2 : used * 4;
      while (newSize <= minUsed) newSize <<= 1;
      const old = table;
      table = new Array<number>(newSize).fill(-1);
      size = newSize;
      for (const k of old) if (k !== -1) insert(table, size - 1, k);
    }
  }
  return table.filter((k) => k !== -1);
}
