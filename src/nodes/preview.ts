/**
 * The editor preview: a small JPEG of the annotated result, sent to the editors over
 * RED.comms and drawn under the node in the workspace (nodes/triton-server.html). Drawn
 * straight onto the thumbnail, so a preview costs one shrink-on-load decode and a small
 * encode, never a full-size annotated JPEG.
 */
import { buildOverlay, type AnnotateResult } from '../vision/annotate';
import { openImage } from '../vision/image';
import type { ImageInput } from '../vision/types';

/** Largest thumbnail, in pixels: fits under a node without hiding the flow. */
export const PREVIEW_MAX_WIDTH = 320;
export const PREVIEW_MAX_HEIGHT = 240;
/** Label text and box lines as they appear on the thumbnail, in thumbnail pixels. */
const PREVIEW_FONT_PX = 12;
const PREVIEW_LINE_PX = 2;
const PREVIEW_QUALITY = 70;

/** The comms topic of one node's preview; the editor subscribes to `triton-vision/preview/#`. */
export function previewTopic(nodeId: string): string {
  return `triton-vision/preview/${nodeId}`;
}

/**
 * The result drawn over a thumbnail of `image` (fit inside 320×240, never enlarged), as a
 * `data:image/jpeg;base64,…` URL.
 *
 * @param image - the image the result came from, as the node received it
 * @param result - detections / classes in original-image pixels
 */
export async function previewDataUrl(image: ImageInput, result: AnnotateResult): Promise<string> {
  const opened = await openImage(image);
  const scale = Math.min(1, PREVIEW_MAX_WIDTH / opened.width, PREVIEW_MAX_HEIGHT / opened.height);
  const width = Math.max(1, Math.round(opened.width * scale));
  const height = Math.max(1, Math.round(opened.height * scale));
  // The overlay keeps original-image coordinates; the outer viewBox scales it to the
  // thumbnail, with text and lines sized so they stay legible once scaled down.
  const overlay = buildOverlay(opened.width, opened.height, result, {
    fontSize: PREVIEW_FONT_PX / scale,
    lineWidth: PREVIEW_LINE_PX / scale,
  });
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${opened.width} ${opened.height}" preserveAspectRatio="none">${overlay}</svg>`;
  const jpeg = await opened.pipeline
    .resize(width, height, { fit: 'fill' })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .jpeg({ quality: PREVIEW_QUALITY })
    .toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}
