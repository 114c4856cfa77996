/**
 * Bounds on what a server's metadata may make us build. Input sizes come from the
 * server; one that declares 8192×8192 would make every message build an 805 MB tensor
 * (18000×18000: 3.9 GB, enough to take Node-RED down). Past the limit the model fails
 * when it is set up (deploy or profile), once and with a sentence, instead of on
 * every message.
 */
import { TritonError } from '../protocol/errors';

/** The largest input side in pixels a model may declare, unless raised. */
export const DEFAULT_MAX_INPUT_SIDE = 4096;

/** Environment variable that raises (or lowers) the limit for the whole process. */
export const MAX_INPUT_SIDE_ENV = 'TRITON_VISION_MAX_INPUT_SIDE';

export interface InputSizeLimit {
  /**
   * Largest input width or height in pixels a model may declare (default 4096, or the
   * TRITON_VISION_MAX_INPUT_SIDE environment variable).
   */
  maxInputSide?: number;
}

/** The limit in force: the caller's, else the environment's, else the default. */
export function maxInputSide(
  limit: InputSizeLimit = {},
  env: NodeJS.ProcessEnv = process.env,
): number {
  const chosen =
    limit.maxInputSide ?? (env[MAX_INPUT_SIDE_ENV] ? Number(env[MAX_INPUT_SIDE_ENV]) : undefined);
  if (chosen === undefined) return DEFAULT_MAX_INPUT_SIDE;
  if (!(Number.isInteger(chosen) && chosen >= 32)) {
    throw new TritonError(
      'INVALID_OPTION',
      `The largest input side must be a whole number of pixels ≥ 32, not ${JSON.stringify(limit.maxInputSide ?? env[MAX_INPUT_SIDE_ENV])}`,
    );
  }
  return chosen;
}

/**
 * Refuses a model whose input is larger than the limit on either side.
 *
 * @param width, height the input size the model takes, in pixels.
 * @throws TritonError UNSUPPORTED_MODEL naming the size, the tensor it would take and
 *   how to get past it.
 */
export function checkInputSize(
  width: number,
  height: number,
  model: string,
  limit: InputSizeLimit = {},
): void {
  const max = maxInputSide(limit);
  if (width <= max && height <= max) return;
  const mb = Math.round((width * height * 3 * 4) / 1e6);
  throw new TritonError(
    'UNSUPPORTED_MODEL',
    `Model '${model}' takes ${width}x${height} images, over the limit of ${max} pixels per side (each image would be a ${mb} MB tensor): serve the model at a smaller input size, or raise the limit (maxInputSide, or ${MAX_INPUT_SIDE_ENV})`,
    { model },
  );
}
