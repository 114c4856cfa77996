/**
 * Image geometry shared by pre- and post-processing: where the original image
 * lands inside the model input, and how to map model-space boxes back.
 */
import type { Box, CropGeometry, LetterboxGeometry } from './types';

/** Python's round(): halves go to the even neighbour (round(0.5) = 0, round(1.5) = 2). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Letterbox placement of a W0×H0 image in an inputWidth×inputHeight model input.
 *
 * Ultralytics (centred): r = min(inH/H0, inW/W0); unpadded size = round(W0·r) × round(H0·r)
 * (Python round); the padding is split with the odd pixel going to the bottom/right
 * (top = round(dh/2 - 0.1) = ⌊dh/2⌋).
 * YOLOX (not centred): unpadded size = int(W0·r) × int(H0·r) (truncated); the image sits at the
 * top-left corner and all padding goes to the bottom/right.
 */
export function computeLetterbox(
  width: number,
  height: number,
  inputWidth: number,
  inputHeight: number,
  centred = true,
): LetterboxGeometry {
  const scale = Math.min(inputHeight / height, inputWidth / width);
  const fit = centred ? roundHalfEven : Math.trunc;
  // Never let rounding push the unpadded image past the input, nor shrink it to nothing.
  const newWidth = Math.min(inputWidth, Math.max(1, fit(width * scale)));
  const newHeight = Math.min(inputHeight, Math.max(1, fit(height * scale)));
  const dw = inputWidth - newWidth;
  const dh = inputHeight - newHeight;
  const padLeft = centred ? Math.floor(dw / 2) : 0;
  const padTop = centred ? Math.floor(dh / 2) : 0;
  return {
    inputWidth,
    inputHeight,
    scale,
    newWidth,
    newHeight,
    padLeft,
    padTop,
    padRight: dw - padLeft,
    padBottom: dh - padTop,
  };
}

/**
 * torchvision's Resize(shorter side = resize) + CenterCrop(crop): the long side is
 * int(resize·long/short) (truncated), the crop offset int(round((dim - crop)/2)).
 */
export function computeCenterCrop(
  width: number,
  height: number,
  resize: number,
  crop: number,
): CropGeometry {
  let resizedWidth: number;
  let resizedHeight: number;
  if (width <= height) {
    resizedWidth = resize;
    resizedHeight = Math.trunc((resize * height) / width);
  } else {
    resizedHeight = resize;
    resizedWidth = Math.trunc((resize * width) / height);
  }
  const cw = Math.min(crop, resizedWidth);
  const ch = Math.min(crop, resizedHeight);
  return {
    resizedWidth,
    resizedHeight,
    left: roundHalfEven((resizedWidth - cw) / 2),
    top: roundHalfEven((resizedHeight - ch) / 2),
    width: cw,
    height: ch,
  };
}

/**
 * The ONNX Model Zoo's imagenet_preprocess: the short side becomes `resize` and the long side
 * round(long · resize/short) (Python round), then a crop × crop window at
 * (⌊w/2⌋ − ⌊crop/2⌋, ⌊h/2⌋ − ⌊crop/2⌋).
 */
export function computeZooCrop(
  width: number,
  height: number,
  resize: number,
  crop: number,
): CropGeometry {
  const ratio = resize / Math.min(width, height);
  const resizedWidth = width > height ? roundHalfEven(ratio * width) : resize;
  const resizedHeight = width > height ? resize : roundHalfEven(ratio * height);
  const cw = Math.min(crop, resizedWidth);
  const ch = Math.min(crop, resizedHeight);
  return {
    resizedWidth,
    resizedHeight,
    left: Math.floor(resizedWidth / 2) - Math.floor(cw / 2),
    top: Math.floor(resizedHeight / 2) - Math.floor(ch / 2),
    width: cw,
    height: ch,
  };
}

/**
 * Per-axis gains from the ROUNDED resized size, as Ultralytics 8.4 maps boxes back:
 * x gain newWidth / W0, y gain newHeight / H0 (YOLOX's demo divides both by r instead).
 */
export function letterboxGains(
  g: LetterboxGeometry,
  width: number,
  height: number,
): { gx: number; gy: number } {
  return { gx: g.newWidth / width, gy: g.newHeight / height };
}

/**
 * Maps a box from model-input pixels back to the original image and clips it to
 * [0, W0] × [0, H0]: subtract the integer pads, divide by the per-axis gains
 * (letterboxGains), or by r for YOLOX (`perAxis` false).
 */
export function boxToOriginal(
  box: Box,
  g: LetterboxGeometry,
  width: number,
  height: number,
  perAxis = true,
): Box {
  const clip = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
  const { gx, gy } = perAxis ? letterboxGains(g, width, height) : { gx: g.scale, gy: g.scale };
  return {
    x1: clip((box.x1 - g.padLeft) / gx, width),
    y1: clip((box.y1 - g.padTop) / gy, height),
    x2: clip((box.x2 - g.padLeft) / gx, width),
    y2: clip((box.y2 - g.padTop) / gy, height),
  };
}

/** Maps an original-image box into model-input pixels (the inverse, unclipped). */
export function boxToInput(box: Box, g: LetterboxGeometry): Box {
  return {
    x1: box.x1 * g.scale + g.padLeft,
    y1: box.y1 * g.scale + g.padTop,
    x2: box.x2 * g.scale + g.padLeft,
    y2: box.y2 * g.scale + g.padTop,
  };
}

export function normalizeBox(box: Box, width: number, height: number): Box {
  return { x1: box.x1 / width, y1: box.y1 / height, x2: box.x2 / width, y2: box.y2 / height };
}
