// Tracking, counting lines and zones, crops: the streaming half of the vision library.
export { ByteTrack, BYTETRACK_DEFAULTS } from './bytetrack';
export type { ByteTrackOptions, TrackInput, TrackedIndex } from './bytetrack';
export { LineZone, PolygonZone, anchorPoint, LINE_ANCHORS, ZONE_ANCHORS } from './zones';
export type { Anchor, Point, TrackedBox, LineZoneOptions, PolygonZoneOptions } from './zones';
export { MultiStreamTracker } from './streams';
export type {
  LineSpec,
  ZoneSpec,
  TrackerConfig,
  TrackableDetection,
  Tracked,
  LineCount,
  ZoneCount,
  TrackEvent,
  TrackFrame,
} from './streams';
export { fillPoly } from './fillpoly';
export { linearSumAssignment } from './assignment';
export { cropRect, cropDetections, splitMessages, splitId } from './crops';
export type { CropOptions, CropRect, Crop, SplitParts, SplitMessage } from './crops';
export { annotateTracking, trackOverlay } from './annotate';
export type { TrackDrawing } from './annotate';
export { parseLine, parseZone, parseGeometry } from './geometry';
