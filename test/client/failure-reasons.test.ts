/**
 * Why an inference failed, as Triton's nv_inference_request_failure `reason` label says:
 * REJECTED, CANCELED, BACKEND or OTHER (Triton core's FailureReason). The rule on its own,
 * then the local backend counting real failures of real models: a request the model
 * cannot take, onnxruntime failing to run a model, a caller hanging up mid-run.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { LocalClient } from '../../src/client/local';
import {
  FAILURE_REASONS,
  failureReason,
  type FailureReason,
  type RequestPhase,
} from '../../src/client/local/statistics';
import { TritonError, isTritonError, type TritonErrorCode } from '../../src/protocol/errors';
import { buildFixtureRepository, FIXTURE_REPOSITORY } from '../support/fixtures';
import { seededValues } from '../support/ort';

describe('failure reasons (the reason label of nv_inference_request_failure)', function () {
  it("is Triton's set, in Triton's order", () => {
    assert.deepEqual([...FAILURE_REASONS], ['REJECTED', 'CANCELED', 'BACKEND', 'OTHER']);
  });

  it('follows from the error and how far the request got', () => {
    const cases: [TritonErrorCode, RequestPhase, FailureReason][] = [
      // The caller gave up: cancelled, wherever it was.
      ['CANCELLED', 'queued', 'CANCELED'],
      ['CANCELLED', 'running', 'CANCELED'],
      ['CANCELLED', 'finishing', 'CANCELED'],
      // Its deadline passed before the model ran: Triton's queue timeout, a rejection.
      ['TIMEOUT', 'queued', 'REJECTED'],
      ['TIMEOUT', 'running', 'OTHER'],
      ['TIMEOUT', 'finishing', 'OTHER'],
      // The runtime failed while running it.
      ['INTERNAL', 'running', 'BACKEND'],
      ['UNKNOWN', 'running', 'BACKEND'],
      // Inputs the model cannot take, outputs that cannot be sent.
      ['INVALID_ARGUMENT', 'queued', 'OTHER'],
      ['UNSUPPORTED', 'finishing', 'OTHER'],
    ];
    for (const [code, phase, want] of cases) {
      assert.equal(failureReason(new TritonError(code, 'x'), phase), want, `${code} ${phase}`);
    }
    assert.equal(failureReason(new Error('not ours'), 'running'), 'BACKEND');
  });

  describe('the local backend counts them per model', function () {
    this.timeout(120000);
    const repo = buildFixtureRepository([
      ...FIXTURE_REPOSITORY.filter((s) => s.name === 'yolov8n' || s.name === 'mobilenetv2'),
      {
        // A config that lies about a model with dynamic sizes: 100 px passes the request
        // checks, but 100 is no multiple of the model's stride, so onnxruntime fails in
        // the middle of the network (a Concat of 7 and 8 rows).
        name: 'broken',
        file: 'yolov5n_fp16_dynamic.onnx',
        config: `name: "broken"
backend: "onnxruntime"
max_batch_size: 4
input [ { name: "images" data_type: TYPE_FP16 dims: [ 3, 100, 100 ] } ]
output [ { name: "output" data_type: TYPE_FP16 dims: [ -1, 85 ] } ]
`,
      },
    ]);
    // On a worker thread (the default): the event loop is free while a model runs.
    const client = new LocalClient({ modelRepository: repo, workerThreads: 1 });

    after(async () => {
      await client.close();
      fs.rmSync(repo, { recursive: true, force: true });
    });

    async function failures(model: string): Promise<Record<FailureReason, number>> {
      const rows = (await client.metricsStatistics()).filter((r) => r.name === model);
      assert.equal(rows.length, 1, model);
      const row = rows[0]!;
      const sum = FAILURE_REASONS.reduce((n, r) => n + row.failures[r], 0);
      assert.equal(sum, row.inference_stats.fail.count, 'every failure has one reason');
      return row.failures;
    }

    const rejectsWith = (p: Promise<unknown>, code: string) =>
      assert.rejects(p, (e: unknown) => isTritonError(e) && e.code === code);

    it('a request the model cannot take (wrong image size): OTHER', async () => {
      await rejectsWith(
        client.infer({
          model: 'mobilenetv2',
          inputs: [
            { name: 'input', datatype: 'FP32', shape: [1, 3, 10, 10], data: seededValues(300) },
          ],
        }),
        'INVALID_ARGUMENT',
      );
      assert.deepEqual(await failures('mobilenetv2'), {
        REJECTED: 0,
        CANCELED: 0,
        BACKEND: 0,
        OTHER: 1,
      });
    });

    it('onnxruntime failing to run the model: BACKEND', async () => {
      await rejectsWith(
        client.infer({
          model: 'broken',
          inputs: [
            {
              name: 'images',
              datatype: 'FP16',
              shape: [1, 3, 100, 100],
              data: new Uint16Array(30000),
            },
          ],
        }),
        'INTERNAL',
      );
      assert.deepEqual(await failures('broken'), {
        REJECTED: 0,
        CANCELED: 0,
        BACKEND: 1,
        OTHER: 0,
      });
    });

    it('a caller that cancels while the model runs: CANCELED', async () => {
      const queued = async (): Promise<number> =>
        (await client.modelStatistics('yolov8n', '1'))[0]!.inference_stats.queue.count;
      const before = await queued();
      const ac = new AbortController();
      const call = client.infer(
        {
          model: 'yolov8n',
          inputs: [
            {
              name: 'images',
              datatype: 'FP32',
              shape: [1, 3, 640, 640],
              data: seededValues(3 * 640 * 640),
            },
          ],
        },
        { signal: ac.signal },
      );
      // Past the queue means handed to the model (a 640 px detector runs for far longer
      // than one turn of this loop).
      while ((await queued()) === before) await new Promise((r) => setImmediate(r));
      ac.abort();
      await rejectsWith(call, 'CANCELLED');
      assert.deepEqual(await failures('yolov8n'), {
        REJECTED: 0,
        CANCELED: 1,
        BACKEND: 0,
        OTHER: 0,
      });
    });

    it("the statistics extension's rows keep Triton's shape (no reasons in them)", async () => {
      const [row] = await client.modelStatistics('mobilenetv2', '1');
      assert.equal(row!.inference_stats.fail.count, 1);
      assert.equal('failures' in row!, false);
    });
  });
});
