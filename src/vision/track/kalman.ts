/**
 * Constant-velocity Kalman filter over boxes, as ByteTrack uses it. State (8):
 * `[cx, cy, a, h, vcx, vcy, va, vh]` — centre, aspect ratio w/h, height and their
 * per-frame velocities; the observation is the first four. Noise scales with the box height
 * (position weight 1/20, velocity weight 1/160).
 *
 * `f32` marks a state still held in float32, as the reference holds a freshly created
 * track's state until its first prediction or update: the rounding of those first numbers is
 * reproduced so that gating decisions fall on the same side of the thresholds.
 */

const W_POS = 1 / 20;
const W_VEL = 1 / 160;
const f = Math.fround;

// Scratch space reused by every call (the filter is synchronous, so one set suffices).
const R8 = new Float64Array(64);
const S4 = new Float64Array(16);
const L4 = new Float64Array(16);
const K84 = new Float64Array(32);
const KS84 = new Float64Array(32);
const Y4 = new Float64Array(4);
const INNOV = new Float64Array(4);

export interface KalmanState {
  /** `[8]` */
  mean: Float64Array;
  /** `[8, 8]` row-major. */
  covariance: Float64Array;
  /** The mean is float32 (a new track not yet predicted or updated). */
  f32: boolean;
}

/** `measurement: [4]` = `[cx, cy, a, h]`, already float32 values. */
export function initiate(measurement: ArrayLike<number>): KalmanState {
  const mean = new Float64Array(8);
  for (let i = 0; i < 4; i++) mean[i] = measurement[i];
  const h = measurement[3];
  // float32 products (a float32 height times a Python float), squared in float64.
  const p = f(f(2 * W_POS) * h);
  const v = f(f(10 * W_VEL) * h);
  const std = [p, p, 1e-2, p, v, v, 1e-5, v];
  const covariance = new Float64Array(64);
  for (let i = 0; i < 8; i++) covariance[i * 9] = std[i] * std[i];
  return { mean, covariance, f32: true };
}

/**
 * One prediction step for a batch of states, in place. The motion noise is computed in
 * float32 when every mean in the batch is float32 (the reference stacks them into one
 * array, whose type is then float32), else in float64.
 */
export function multiPredict(states: KalmanState[]): void {
  if (states.length === 0) return;
  const allF32 = states.every((s) => s.f32);
  for (const s of states) {
    const m = s.mean;
    const h = m[3];
    let q: number[];
    if (allF32) {
      const sp = f(f(W_POS) * h);
      const sv = f(f(W_VEL) * h);
      const c1 = f(1e-2);
      const c2 = f(1e-5);
      q = [sp, sp, c1, sp, sv, sv, c2, sv].map((x) => f(x * x));
    } else {
      const sp = W_POS * h;
      const sv = W_VEL * h;
      q = [sp, sp, 1e-2, sp, sv, sv, 1e-5, sv].map((x) => x * x);
    }
    for (let i = 0; i < 4; i++) m[i] = m[i] + m[i + 4];
    // P' = F P F^T with F = [[I, I], [0, I]].
    const P = s.covariance;
    const R = R8;
    for (let i = 0; i < 8; i++) {
      for (let j = 0; j < 8; j++) {
        let x = P[i * 8 + j];
        if (i < 4) x += P[(i + 4) * 8 + j];
        R[i * 8 + j] = x;
      }
    }
    for (let i = 0; i < 8; i++) {
      for (let j = 0; j < 8; j++) {
        let x = R[i * 8 + j];
        if (j < 4) x += R[i * 8 + j + 4];
        P[i * 8 + j] = x;
      }
    }
    for (let i = 0; i < 8; i++) P[i * 9] += q[i];
    s.f32 = false;
  }
}

/**
 * The correction step, in place. `measurement: [4]` float32 `[cx, cy, a, h]`.
 */
export function update(s: KalmanState, measurement: ArrayLike<number>): void {
  const m = s.mean;
  const P = s.covariance;
  const h = m[3];
  const sp = s.f32 ? f(f(W_POS) * h) : W_POS * h;
  const r = [sp, sp, 1e-1, sp];
  // S = H P H^T + R (the top-left 4x4 block of P).
  const S = S4;
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) S[i * 4 + j] = P[i * 8 + j];
    S[i * 5] += r[i] * r[i];
  }
  // Cholesky S = L L^T.
  const L = L4;
  L.fill(0);
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = S[i * 4 + j];
      for (let k = 0; k < j; k++) sum -= L[i * 4 + k] * L[j * 4 + k];
      L[i * 4 + j] = i === j ? Math.sqrt(sum) : sum / L[j * 4 + j];
    }
  }
  // K^T = S^-1 (P H^T)^T: solve for each of the 8 columns of (P H^T)^T = P[0..3][*].
  const K = K84; // [8, 4]
  const y = Y4;
  for (let c = 0; c < 8; c++) {
    for (let i = 0; i < 4; i++) {
      let sum = P[c * 8 + i]; // (P H^T)[c][i] = P[c][i]
      for (let k = 0; k < i; k++) sum -= L[i * 4 + k] * y[k];
      y[i] = sum / L[i * 5];
    }
    for (let i = 3; i >= 0; i--) {
      let sum = y[i];
      for (let k = i + 1; k < 4; k++) sum -= L[k * 4 + i] * K[c * 4 + k];
      K[c * 4 + i] = sum / L[i * 5];
    }
  }
  const innovation = INNOV;
  for (let i = 0; i < 4; i++) innovation[i] = measurement[i] - m[i];
  for (let i = 0; i < 8; i++) {
    let d = 0;
    for (let k = 0; k < 4; k++) d += innovation[k] * K[i * 4 + k];
    m[i] += d;
  }
  // P -= K S K^T
  const KS = KS84;
  for (let i = 0; i < 8; i++) {
    for (let j = 0; j < 4; j++) {
      let x = 0;
      for (let k = 0; k < 4; k++) x += K[i * 4 + k] * S[k * 4 + j];
      KS[i * 4 + j] = x;
    }
  }
  for (let i = 0; i < 8; i++) {
    for (let j = 0; j < 8; j++) {
      let x = 0;
      for (let k = 0; k < 4; k++) x += KS[i * 4 + k] * K[j * 4 + k];
      P[i * 8 + j] -= x;
    }
  }
  s.f32 = false;
}
