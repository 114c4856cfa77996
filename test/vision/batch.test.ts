/**
 * Several images in one call (runTaskBatch): one request per max_batch_size, results
 * per image in order and equal to runTask on each image. Real ONNX models in local mode;
 * the number of model executions comes from the backend's own statistics.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { isTritonError } from '../../src/protocol/errors';
import { LocalClient } from '../../src/client/local';
import type { InferRequest, InferResponse } from '../../src/protocol/types';
import { joinRequests, splitResponse } from '../../src/vision/batch';
import {
  runTask,
  runTaskBatch,
  runTaskBatchSettled,
  type TaskResult,
} from '../../src/vision/pipeline';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';

/** A result without its timings (which differ run to run). */
const stable = ({ timings: _t, ...rest }: TaskResult): Omit<TaskResult, 'timings'> => rest;

describe('runTaskBatch: several images, batched requests, per-image results', function () {
  this.timeout(240000);
  let client: LocalClient;
  const photos = ['bus.jpg', 'astronaut.png', 'chelsea.png', 'coffee.png'].map((f) =>
    fs.readFileSync(fixtureImage(f)),
  );

  before(() => {
    client = new LocalClient({ modelRepository: buildFixtureRepository() });
  });
  after(() => client.close());

  /** Executions and inferences of `model` since the last call. */
  async function counts(model: string): Promise<{ exec: number; inferences: number }> {
    const [s] = await client.modelStatistics(model);
    return { exec: s!.execution_count, inferences: s!.inference_count };
  }
  async function delta<T>(
    model: string,
    run: () => Promise<T>,
  ): Promise<{ value: T; exec: number; inferences: number }> {
    const before = await counts(model);
    const value = await run();
    const after = await counts(model);
    return {
      value,
      exec: after.exec - before.exec,
      inferences: after.inferences - before.inferences,
    };
  }

  async function singles(model: string, images: Buffer[]): Promise<TaskResult[]> {
    const out: TaskResult[] = [];
    for (const image of images) out.push(await runTask(client, model, image));
    return out;
  }

  it('a classifier with max_batch_size 8: four images in one execution, same classes', async () => {
    const one = await singles('mobilenetv2', photos);
    const batch = await delta('mobilenetv2', () => runTaskBatch(client, 'mobilenetv2', photos));
    assert.equal(batch.exec, 1, 'one model execution for the four images');
    assert.equal(batch.inferences, 4);
    assert.equal(batch.value.length, 4);
    assert.deepEqual(batch.value.map(stable), one.map(stable));
    // The four photos are not all the same picture: order matters and is kept.
    assert.notDeepEqual(batch.value[0]!.classes, batch.value[2]!.classes);
  });

  it('a detector with max_batch_size 4: five images in two executions (4 + 1), same boxes', async () => {
    const five = [...photos, photos[0]!];
    const one = await singles('yolov5n_fp16', five);
    const batch = await delta('yolov5n_fp16', () => runTaskBatch(client, 'yolov5n_fp16', five));
    assert.equal(batch.exec, 2);
    assert.equal(batch.inferences, 5);
    assert.deepEqual(batch.value.map(stable), one.map(stable));
    assert.ok(batch.value[0]!.detections!.length > 0, 'the bus photo has detections');
    assert.deepEqual(stable(batch.value[4]!), stable(batch.value[0]!));
  });

  it('maxBatch caps the batch below the model: three images at maxBatch 2 → two executions', async () => {
    const three = photos.slice(0, 3);
    const batch = await delta('mobilenetv2', () =>
      runTaskBatch(client, 'mobilenetv2', three, { maxBatch: 2 }),
    );
    assert.equal(batch.exec, 2);
    assert.deepEqual(batch.value.map(stable), (await singles('mobilenetv2', three)).map(stable));
  });

  it('a model without a batch dimension (max_batch_size 0) runs the images one by one', async () => {
    const two = photos.slice(0, 2);
    const batch = await delta('yolov8n_seg', () => runTaskBatch(client, 'yolov8n_seg', two));
    assert.equal(batch.exec, 2);
    assert.deepEqual(batch.value.map(stable), (await singles('yolov8n_seg', two)).map(stable));
  });

  it('one bad image fails the call with its code once the others are done; none hangs', async () => {
    const before = await counts('mobilenetv2');
    await assert.rejects(
      runTaskBatch(client, 'mobilenetv2', [photos[0]!, Buffer.from('not an image'), photos[1]!]),
      (err: unknown) => isTritonError(err) && err.code === 'INVALID_IMAGE',
    );
    const after = await counts('mobilenetv2');
    // The two good images still went out together.
    assert.equal(after.exec - before.exec, 1);
    assert.equal(after.inferences - before.inferences, 2);
  });

  it('settled: the bad image fails alone, the good ones get their results in place', async () => {
    const settled = await runTaskBatchSettled(client, 'mobilenetv2', [
      photos[2]!,
      Buffer.from('not an image'),
      photos[3]!,
    ]);
    assert.deepEqual(
      settled.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    const reason = (settled[1] as PromiseRejectedResult).reason as unknown;
    assert.ok(isTritonError(reason) && reason.code === 'INVALID_IMAGE');
    const [a, b] = await singles('mobilenetv2', [photos[2]!, photos[3]!]);
    assert.deepEqual(stable((settled[0] as PromiseFulfilledResult<TaskResult>).value), stable(a!));
    assert.deepEqual(stable((settled[2] as PromiseFulfilledResult<TaskResult>).value), stable(b!));
  });

  it('refuses an empty list and a bad maxBatch with a code', async () => {
    await assert.rejects(
      runTaskBatch(client, 'mobilenetv2', []),
      (err: unknown) => isTritonError(err) && err.code === 'INVALID_INPUT',
    );
    await assert.rejects(
      runTaskBatch(client, 'mobilenetv2', photos, { maxBatch: -1 }),
      (err: unknown) => isTritonError(err) && err.code === 'INVALID_OPTION',
    );
  });
});

describe('joinRequests / splitResponse', () => {
  const req = (v: number): InferRequest => ({
    model: 'm',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array([v, v + 0.5]) }],
    outputs: [{ name: 'y' }],
  });

  it('joins along dimension 0 in order and splits back into batch-1 replies', () => {
    const joined = joinRequests([req(1), req(2), req(3)]);
    assert.deepEqual(joined.inputs[0]!.shape, [3, 2]);
    assert.deepEqual([...(joined.inputs[0]!.data as Float32Array)], [1, 1.5, 2, 2.5, 3, 3.5]);
    let released = 0;
    const res: InferResponse = {
      model: 'm',
      version: '1',
      outputs: [{ name: 'y', datatype: 'INT32', shape: [3, 1], data: new Int32Array([7, 8, 9]) }],
    };
    Object.defineProperty(res, 'release', { value: () => (released += 1) });
    const parts = splitResponse(res, 3);
    assert.deepEqual(
      parts.map((p) => [p.outputs[0]!.shape, [...(p.outputs[0]!.data as Int32Array)]]),
      [
        [[1, 1], [7]],
        [[1, 1], [8]],
        [[1, 1], [9]],
      ],
    );
    parts[0]!.release!();
    parts[0]!.release!();
    parts[1]!.release!();
    assert.equal(released, 0, 'the reply stays until every part is released');
    parts[2]!.release!();
    assert.equal(released, 1);
  });

  it('a reply whose batch is not the one asked for is a PROTOCOL_ERROR', () => {
    const res: InferResponse = {
      model: 'm',
      version: '1',
      outputs: [{ name: 'y', datatype: 'FP32', shape: [2, 1], data: new Float32Array(2) }],
    };
    assert.throws(
      () => splitResponse(res, 3),
      (err: unknown) => isTritonError(err) && err.code === 'PROTOCOL_ERROR',
    );
  });
});
