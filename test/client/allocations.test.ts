/**
 * The steady path of both network clients allocates nothing large per image: a run of
 * 640×640 YOLO inferences (4.9 MB in, 2.8 MB out) against the bench's instant stub server
 * (a separate process, so only the client's allocations are counted) makes no allocation
 * of 256 KiB or more once the pools are warm. The controls show the counter sees what it
 * must: replies not released (each needs fresh memory), and a copy of a tensor.
 *
 * Small garbage counts too: a 640 YOLO reply reaches a gRPC client as ~200 DATA frames of
 * 16 KiB. Read through the stream's 'data' events, each frame cost a process tick and a
 * few objects, 250 KB of JS heap per inference (HTTP: ~115 KB), enough of it promoted to
 * keep V8 in full GCs (0.4 per image in the transport bench, issue 11).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import * as grpc from '@grpc/grpc-js';
import { GrpcClient } from '../../src/client/grpc';
import { encodeInferRequest, loadKserveProto } from '../../src/protocol/grpc-codec';
import { HttpClient } from '../../src/client/http';
import type { CallOptions, InferRequest, InferenceClient, Tensor } from '../../src/protocol/types';
import { runTask } from '../../src/vision/pipeline';
import { largeAllocations, type Allocation } from '../support/allocations';
import { startInstantStub, type InstantStub } from '../support/instant-stub';
import { FIXTURE_REPOSITORY, buildFixtureRepository, fixtureImage } from '../support/fixtures';
import { seededValues } from '../support/ort';

const LARGE = 256 * 1024;
const RUNS = 12;

/**
 * JS heap bytes allocated per call of `once`, collected objects included (V8's sampling
 * heap profiler, one sample per 256 bytes on average).
 */
async function heapBytesPerCall(once: () => Promise<void>, calls: number): Promise<number> {
  const session = new inspector.Session();
  session.connect();
  const post = <T>(method: string, params: object = {}): Promise<T> =>
    new Promise((resolve, reject) =>
      session.post(method, params, (err, res) => (err ? reject(err) : resolve(res as T))),
    );
  interface Node {
    selfSize: number;
    children: Node[];
  }
  try {
    await post('HeapProfiler.startSampling', {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    for (let i = 0; i < calls; i++) await once();
    const { profile } = await post<{ profile: { head: Node } }>('HeapProfiler.stopSampling');
    let bytes = 0;
    const walk = (n: Node): void => {
      bytes += n.selfSize;
      n.children.forEach(walk);
    };
    walk(profile.head);
    return bytes / calls;
  } finally {
    session.disconnect();
  }
}

describe('no large allocations per inference on the steady path', function () {
  this.timeout(120000);
  const repo = buildFixtureRepository(FIXTURE_REPOSITORY.filter((m) => m.name === 'yolov8n'));
  let stub: InstantStub;
  const images: Tensor = {
    name: 'images',
    datatype: 'FP32',
    shape: [1, 3, 640, 640],
    data: seededValues(3 * 640 * 640, 2),
  };
  const request = { model: 'yolov8n', inputs: [images], outputs: [{ name: 'output0' }] };

  before(async () => {
    stub = await startInstantStub(repo);
  });
  after(async () => {
    await stub?.stop();
    fs.rmSync(repo, { recursive: true, force: true });
  });

  /** Runs `RUNS` inferences after a warm-up, releasing each reply after reading it. */
  async function steadyRun(client: InferenceClient, release: boolean): Promise<Allocation[]> {
    let checksum = 0;
    const once = async (): Promise<void> => {
      const res = await client.infer(request);
      const out = res.outputs[0]!;
      assert.deepEqual(out.shape, [1, 84, 8400]);
      checksum += (out.data as Float32Array)[1000]!;
      if (release) res.release!();
    };
    for (let i = 0; i < 3; i++) await once();
    const seen = await largeAllocations(LARGE, async () => {
      for (let i = 0; i < RUNS; i++) await once();
    });
    assert.ok(Number.isFinite(checksum));
    return seen;
  }

  for (const kind of ['grpc', 'http'] as const) {
    it(`${kind}: none at all over ${RUNS} inferences once warm`, async () => {
      const client =
        kind === 'grpc' ? new GrpcClient({ port: stub.grpc }) : new HttpClient({ port: stub.http });
      try {
        const seen = await steadyRun(client, true);
        assert.deepEqual(seen, [], `${kind}: ${JSON.stringify(seen)}`);
      } finally {
        await client.close();
      }
    });

    it(`${kind}: the counter sees each reply allocated fresh when replies are not released`, async () => {
      const client =
        kind === 'grpc' ? new GrpcClient({ port: stub.grpc }) : new HttpClient({ port: stub.http });
      try {
        assert.ok((await steadyRun(client, false)).length >= RUNS);
      } finally {
        await client.close();
      }
    });
  }

  it('grpc: a reply of ~200 DATA frames makes no more JS garbage than the same reply over HTTP', async () => {
    const clients = {
      grpc: new GrpcClient({ port: stub.grpc }),
      http: new HttpClient({ port: stub.http }),
    };
    const once = (client: InferenceClient) => async (): Promise<void> => {
      const res = await client.infer(request);
      assert.deepEqual(res.outputs[0]!.shape, [1, 84, 8400]);
      res.release!();
    };
    try {
      const perCall = { grpc: Infinity, http: Infinity };
      for (let round = 0; round < 2; round++) {
        for (const kind of ['grpc', 'http'] as const) {
          for (let i = 0; i < 3; i++) await once(clients[kind])();
          perCall[kind] = Math.min(
            perCall[kind],
            await heapBytesPerCall(once(clients[kind]), RUNS),
          );
        }
      }
      const kb = (b: number): string => `${(b / 1024).toFixed(0)} KB`;
      assert.ok(
        perCall.grpc <= perCall.http * 1.25,
        `JS heap allocated per inference: gRPC ${kb(perCall.grpc)}, HTTP ${kb(perCall.http)}`,
      );
    } finally {
      await Promise.all([clients.grpc.close(), clients.http.close()]);
    }
  });

  it('runTask gives the reply memory back when post-processing fails too', async () => {
    const real = new GrpcClient({ port: stub.grpc });
    let released = 0;
    // A server that answers with an output the model does not declare: post-processing
    // finds no detections tensor and fails.
    const lying = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop !== 'infer') return Reflect.get(target, prop, receiver) as unknown;
        return async (req: InferRequest, opts?: CallOptions) => {
          const res = await target.infer(req, opts);
          const release = res.release!;
          return Object.assign(res, {
            outputs: res.outputs.map((o) => ({ ...o, name: 'renamed' })),
            release: () => {
              released++;
              release();
            },
          });
        };
      },
    });
    try {
      await assert.rejects(runTask(lying, 'yolov8n', fs.readFileSync(fixtureImage('bus.jpg'))), {
        code: 'PROTOCOL_ERROR',
      });
      assert.equal(released, 1);
    } finally {
      await real.close();
    }
  });

  it('the counter sees the copies of the grpc-js path this client replaced', async () => {
    const { ServiceClient } = loadKserveProto();
    const stubClient = new ServiceClient(
      `127.0.0.1:${stub.grpc}`,
      grpc.credentials.createInsecure(),
      {
        'grpc.max_receive_message_length': -1,
      },
    );
    const call = (): Promise<void> =>
      new Promise((resolve, reject) =>
        stubClient.makeUnaryRequest(
          loadKserveProto().service.ModelInfer!.path,
          (v: object) => loadKserveProto().service.ModelInfer!.requestSerialize(v),
          (b: Buffer) => b,
          encodeInferRequest(request),
          (err) => (err ? reject(err) : resolve()),
        ),
      );
    try {
      await call();
      const seen = await largeAllocations(LARGE, async () => {
        for (let i = 0; i < 3; i++) await call();
      });
      // At least the framing copy of each request and the joined reply of each answer.
      assert.ok(seen.length >= 6, JSON.stringify(seen));
    } finally {
      stubClient.close();
    }
  });

  it('the counter sees a copied tensor, a joined body and a typed array copy', async () => {
    const seen = await largeAllocations(LARGE, () => {
      Buffer.concat([Buffer.from(images.data.buffer), Buffer.alloc(1)]);
      Float32Array.from(images.data as Float32Array);
      (images.data as Float32Array).slice();
      Buffer.from(images.data.buffer); // a view: not counted
      return Promise.resolve();
    });
    assert.deepEqual(
      seen.map((a) => a.via),
      ['Buffer.concat', 'new Float32Array', 'TypedArray#slice'],
    );
  });
});
