/**
 * triton-vision-serve's frontends allocate nothing large per request on the steady path:
 * a 640×640 YOLO request (4.9 MB) is read into pooled memory the tensors view in place,
 * and the 2.8 MB reply is written from the output tensor itself. Frontends and client
 * run in this process over loopback (the client releases each reply, so it allocates
 * nothing large either: test/client/allocations.test.ts); the backend is the real
 * LocalClient with infer() answering a stored yolov8n output, so no model run allocates.
 * The control: a backend that copies each reply's tensor is seen, once per request.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { GrpcClient } from '../src/client/grpc';
import { HttpClient } from '../src/client/http';
import { LocalClient } from '../src/client/local';
import type { InferResponse, InferenceClient, Tensor } from '../src/protocol/types';
import { startGrpcFrontend, type GrpcFrontend } from '../src/server/grpc-frontend';
import { startHttpFrontend, type HttpFrontend } from '../src/server/http-frontend';
import { largeAllocations } from './support/allocations';
import { FIXTURE_REPOSITORY, buildFixtureRepository } from './support/fixtures';
import { seededValues } from './support/ort';

const LARGE = 256 * 1024;
const RUNS = 12;

describe('triton-vision-serve frontends: no large allocations per request once warm', function () {
  this.timeout(120000);
  const repo = buildFixtureRepository(FIXTURE_REPOSITORY.filter((m) => m.name === 'yolov8n'));
  const images: Tensor = {
    name: 'images',
    datatype: 'FP32',
    shape: [1, 3, 640, 640],
    data: seededValues(3 * 640 * 640, 3),
  };
  let real: LocalClient;
  let stored: InferResponse;
  let copyReplies = false;
  let received: Tensor | undefined;
  let grpcFe: GrpcFrontend;
  let httpFe: HttpFrontend;

  before(async () => {
    real = new LocalClient({ modelRepository: repo, load: 'all' });
    stored = await real.infer({ model: 'yolov8n', inputs: [images] });
    const backend = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'infer') {
          return (req: { model: string; inputs: Tensor[] }): Promise<InferResponse> => {
            received = req.inputs[0];
            const outputs = copyReplies
              ? stored.outputs.map((t) => ({ ...t, data: (t.data as Float32Array).slice() }))
              : stored.outputs;
            return Promise.resolve({ model: req.model, version: stored.version, outputs });
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as InferenceClient;
    grpcFe = await startGrpcFrontend(backend, { port: 0 });
    httpFe = await startHttpFrontend(backend, { port: 0 });
  });
  after(async () => {
    await grpcFe?.close();
    await httpFe?.close();
    await real?.close();
    fs.rmSync(repo, { recursive: true, force: true });
  });

  async function steadyRun(client: InferenceClient): Promise<{ via: string; bytes: number }[]> {
    const once = async (): Promise<void> => {
      const res = await client.infer({ model: 'yolov8n', inputs: [images] });
      assert.deepEqual(res.outputs[0]!.shape, [1, 84, 8400]);
      // What the backend got is the request's values, viewed in place (a typed array).
      const got = received!.data as Float32Array;
      assert.equal(got.length, images.data.length);
      assert.equal(got[12345], (images.data as Float32Array)[12345]);
      res.release!();
    };
    for (let i = 0; i < 3; i++) await once();
    return largeAllocations(LARGE, async () => {
      for (let i = 0; i < RUNS; i++) await once();
    });
  }

  for (const kind of ['grpc', 'http'] as const) {
    const connect = (): InferenceClient =>
      kind === 'grpc'
        ? new GrpcClient({ port: grpcFe.port })
        : new HttpClient({ port: httpFe.port });

    it(`${kind}: none at all over ${RUNS} requests`, async () => {
      const client = connect();
      try {
        const seen = await steadyRun(client);
        assert.deepEqual(seen, [], JSON.stringify(seen));
      } finally {
        await client.close();
      }
    });

    it(`${kind}: the control, a backend that copies each reply, is seen once per request`, async () => {
      const client = connect();
      copyReplies = true;
      try {
        const seen = await steadyRun(client);
        assert.equal(seen.length, RUNS, JSON.stringify(seen));
      } finally {
        copyReplies = false;
        await client.close();
      }
    });
  }
});
