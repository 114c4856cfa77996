/**
 * A KServe v2 server whose model answers instantly with a stored real output, so a
 * throughput run measures our client, node and frontends, not the model. It is our real
 * startGrpcFrontend/startHttpFrontend over an InferenceClient backend that delegates
 * everything to a LocalClient on the fixture repository except infer(), which returns
 * the output yolov8n really produced for bus.jpg (computed once at start).
 *
 *   node --require tsx/cjs bench/stub-server.ts <model-repository> <model>
 *
 * Prints `ready http=<port> grpc=<port>` once both listen; stops on SIGTERM.
 */
import * as fs from 'node:fs';
import { LocalClient } from '../src/client/local';
import type {
  CallOptions,
  InferRequest,
  InferResponse,
  InferenceClient,
} from '../src/protocol/types';
import { startGrpcFrontend } from '../src/server/grpc-frontend';
import { startHttpFrontend } from '../src/server/http-frontend';
import { prepareInput } from '../src/vision/image';
import { resolveProfile } from '../src/vision/pipeline';
import { fixtureImage } from '../test/support/fixtures';

async function main(): Promise<void> {
  const [repo, model] = process.argv.slice(2);
  if (!repo || !model) throw new Error('usage: stub-server.ts <model-repository> <model>');
  const real = new LocalClient({ modelRepository: repo });
  const profile = await resolveProfile(real, model);
  const prepared = await prepareInput(fs.readFileSync(fixtureImage('bus.jpg')), profile);
  const stored = await real.infer({
    model,
    inputs: [
      {
        name: profile.input.name,
        datatype: profile.input.datatype,
        shape: prepared.shape,
        data: prepared.tensor,
      },
    ],
  });
  let served = 0;
  // The request still arrives decoded in full (the frontends' real work); only the
  // model's compute is skipped.
  const infer = (req: InferRequest, _opts?: CallOptions): Promise<InferResponse> => {
    served++;
    const res: InferResponse = {
      model: req.model,
      version: stored.version,
      outputs: stored.outputs,
    };
    if (req.id !== undefined) res.id = req.id;
    return Promise.resolve(res);
  };
  const stub = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'infer') return infer;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as InferenceClient;
  const http = await startHttpFrontend(stub, { host: '127.0.0.1', port: 0 });
  const grpc = await startGrpcFrontend(stub, { host: '127.0.0.1', port: 0 });
  process.stdout.write(`ready http=${http.port} grpc=${grpc.port}\n`);
  process.once('SIGTERM', () => {
    process.stderr.write(`stub served ${served} requests\n`);
    void Promise.allSettled([http.close(), grpc.close()])
      .then(() => real.close())
      .then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`stub-server failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
