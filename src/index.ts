// Library entry: require('node-red-contrib-triton-vision')
// Layer 1 — the KServe v2 clients.
export * from './protocol/errors';
export * from './protocol/types';
export * from './protocol/tensor';
export { createClient, clientOptionsFromUrl, GrpcClient, HttpClient, LocalClient } from './client';
export type { ClientOptions } from './client';
export { ReplicaClient, isRetryable } from './client';
export type { ReplicaOptions, ReplicaStatus, ReplicaStats, RetryOptions } from './client';
export { parseModelConfig, formatModelConfig } from './protocol/pbtxt';
// Layer 2 — the vision library and the one pipeline.
export * from './vision/types';
export {
  runTask,
  runTaskBatch,
  runTaskBatchSettled,
  resolveProfile,
  ProfileCache,
} from './vision/pipeline';
export type {
  BatchTaskOptions,
  TaskOptions,
  TaskResult,
  TaskTimings,
  ProfileOptions,
} from './vision/pipeline';
export { RequestGatherer, joinRequests, splitResponse, modelMaxBatch } from './vision/batch';
export { decodeImage, prepareInput } from './vision/image';
export { deriveProfile } from './vision/profile';
export { decodeDetections } from './vision/detect';
export { decodeSegments } from './vision/segment';
export { classify, softmax } from './vision/classify';
export { nms } from './vision/nms';
export { annotate } from './vision/annotate';
export { COCO80, IMAGENET1000, labelsFor } from './vision/labels';
export { computeLetterbox, computeCenterCrop, boxToOriginal } from './vision/geometry';
// The KServe v2 server frontends behind triton-vision-serve.
export { startHttpFrontend } from './server/http-frontend';
export { startGrpcFrontend } from './server/grpc-frontend';
export { startMetricsFrontend, renderMetrics } from './server/metrics';
// Tracking, counting lines and zones, crops and split-style messages.
export * from './vision/track';
