/**
 * Who may do what on triton-vision-serve: the model control mode (as Triton's
 * `--model-control-mode`), an optional bearer token on every endpoint, and what counts
 * as a loopback address. One place for these facts; both frontends and the serve
 * command read them from here.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { TritonError } from '../protocol/errors';

/**
 * `none`: every model is loaded at start and the repository API cannot load or unload
 * (Triton's default). `explicit`: load and unload through the API are allowed.
 */
export type ModelControlMode = 'none' | 'explicit';

export const MODEL_CONTROL_MODES: readonly ModelControlMode[] = ['none', 'explicit'];

/** The serve command's default, as Triton's. */
export const DEFAULT_MODEL_CONTROL_MODE: ModelControlMode = 'none';

/** The environment variable the serve command reads a bearer token from. */
export const AUTH_TOKEN_ENV = 'TRITON_VISION_SERVE_TOKEN';

/**
 * Load or unload asked of a server in `none` mode. Triton answers these with
 * UNAVAILABLE (HTTP 503) and exactly this first sentence, which clients match on.
 */
export function modelControlRefused(): TritonError {
  return new TritonError(
    'TRITON_UNAVAILABLE',
    'explicit model load / unload is not allowed if polling is enabled: this server runs with --model-control-mode none; start it with --model-control-mode explicit to load and unload models through the API',
  );
}

/** A request without the right bearer token. */
export function unauthorized(given: boolean): TritonError {
  return new TritonError(
    'UNAUTHORIZED',
    given
      ? 'The bearer token is not the one this server was started with: check the token (Authorization: Bearer <token>)'
      : 'This server requires a bearer token: send Authorization: Bearer <token>',
  );
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Checks an `Authorization` value against `token` in constant time. Returns undefined
 * when it matches, else the error to answer with.
 */
export function checkBearer(header: string | undefined, token: string): TritonError | undefined {
  const m = header === undefined ? null : /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return unauthorized(header !== undefined);
  return timingSafeEqual(digest(m[1]!), digest(token)) ? undefined : unauthorized(true);
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}
