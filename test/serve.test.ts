/**
 * The `triton-vision-serve` command itself: its arguments, what it prints, how it stops.
 * (The protocol it speaks is covered by the client suite.)
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { createClient } from '../src/client';
import { loadKserveProto } from '../src/protocol/grpc-codec';
import { typedContentsBytes } from '../src/server/grpc-infer-wire';
import { InferRequestSplitter, encodeInferResponseFrame } from '../src/protocol/grpc-infer-server';
import { buildFixtureRepository, FIXTURE_REPOSITORY } from './support/fixtures';
import { seededValues } from './support/ort';
import { startServe } from './support/serve';

const ROOT = path.resolve(__dirname, '..');

function serve(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'src', 'serve.ts'), ...args],
    { cwd: ROOT, encoding: 'utf8', timeout: 60000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('triton-vision-serve command', function () {
  this.timeout(120000);
  // Only the classifier: quick to load.
  const repo = buildFixtureRepository(FIXTURE_REPOSITORY.filter((m) => m.name === 'mobilenetv2'));

  it('--help prints the usage and exits 0', () => {
    const r = serve(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /--model-repository DIR/);
    assert.match(r.stdout, /--worker-threads N/);
    assert.match(r.stdout, /--model-control-mode M/);
    assert.match(r.stdout, /--auth-token TOKEN/);
  });

  it('refuses missing or malformed arguments with exit 2 and a sentence', () => {
    const cases: [string[], RegExp][] = [
      [[], /--model-repository is required/],
      [['--model-repository', repo, '--http-port', '70000'], /--http-port must be a port number/],
      [
        ['--model-repository', repo, '--worker-threads', '0'],
        /--worker-threads must be a whole number/,
      ],
      [
        ['--model-repository', repo, '--allow-http', 'false', '--allow-grpc', 'false'],
        /leave nothing to serve/,
      ],
      [['--model-repository', repo, '--no-such-flag'], /Unknown option/],
      [
        ['--model-repository', repo, '--model-control-mode', 'poll'],
        /--model-control-mode must be none or explicit, got 'poll'/,
      ],
      [
        ['--model-repository', repo, '--max-inflight', '0'],
        /--max-inflight must be a whole number/,
      ],
      [['--model-repository', repo, '--auth-token', ''], /auth token must be non-empty/],
    ];
    for (const [args, message] of cases) {
      const r = serve(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  it('a port already in use → exit 1 saying it cannot start', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (busy.address() as net.AddressInfo).port;
      const r = serve([
        '--model-repository',
        repo,
        '--http-port',
        String(port),
        '--grpc-port',
        '0',
      ]);
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /cannot start/);
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
  });

  it('gRPC only, with two worker threads: concurrent requests are answered, then SIGTERM exits 0', async () => {
    const s = await startServe({
      repository: repo,
      extraArgs: ['--allow-http', 'false', '--worker-threads', '2'],
    });
    const client = createClient({ mode: 'grpc', host: '127.0.0.1', port: s.grpcPort });
    try {
      assert.equal(s.httpPort, -1, 'no HTTP service line');
      assert.match(s.output(), /model mobilenetv2 version 1: READY/);
      const input = {
        name: 'input',
        datatype: 'FP32' as const,
        shape: [1, 3, 224, 224],
        data: seededValues(3 * 224 * 224),
      };
      const results = await Promise.all(
        [1, 2, 3, 4].map(() => client.infer({ model: 'mobilenetv2', inputs: [input] })),
      );
      for (const r of results) {
        assert.deepEqual(r.outputs[0]!.shape, [1, 1000]);
        assert.deepEqual(
          [...(r.outputs[0]!.data as Float32Array)],
          [...(results[0]!.outputs[0]!.data as Float32Array)],
        );
      }
    } finally {
      await client.close();
      await s.stop();
    }
    assert.equal(s.proc.exitCode, 0);
    assert.match(s.output(), /SIGTERM, shutting down/);
  });
});

describe('triton-vision-serve wire pieces', () => {
  // Deferred: the proto loads on first use.
  const proto = () => loadKserveProto().service.ModelInfer!;

  it('the ModelInferResponse frame encoder writes what protobufjs decodes to the same message', () => {
    const generic = proto().responseSerialize as (v: unknown) => Buffer;
    const decode = proto().responseDeserialize as (b: Buffer) => Record<string, unknown>;
    const head = new Float32Array([1.5, -2, 3]);
    const wire = {
      model_name: 'yolo — ü',
      model_version: '3',
      id: 'req-7',
      outputs: [
        { name: 'output0', datatype: 'FP32', shape: [1, 84, 8400] },
        { name: 'empty', datatype: 'INT64', shape: [0, 300] },
        { name: 'big', datatype: 'UINT8', shape: [300] },
      ],
      raw_output_contents: [
        Buffer.from(head.buffer),
        Buffer.alloc(0),
        Buffer.alloc(300, 7), // a length that takes a two-byte varint
      ],
    };
    const frame = encodeInferResponseFrame(wire)!;
    const bytes = Buffer.concat(frame.chunks);
    // The gRPC prefix: not compressed, then the message length big-endian.
    assert.equal(bytes[0], 0);
    assert.equal(bytes.readUInt32BE(1), bytes.length - 5);
    assert.equal(frame.messageBytes, bytes.length - 5);
    assert.deepEqual(decode(bytes.subarray(5)), decode(generic(wire)));
    // The tensors travel as their own memory, not copies.
    assert.ok(frame.chunks.some((c) => c.buffer === head.buffer));
    // Something the encoder does not write (typed contents) goes to the generic encoder.
    const typed = {
      ...wire,
      outputs: [{ name: 'x', datatype: 'INT32', shape: [1], contents: { int_contents: [5] } }],
      raw_output_contents: [],
    };
    assert.equal(encodeInferResponseFrame(typed), undefined);
  });

  it('splits a ModelInferRequest, however its bytes arrive, into header fields and aligned raw inputs', () => {
    const encode = proto().requestSerialize as (v: unknown) => Buffer;
    const decode = proto().requestDeserialize as (b: Buffer) => Record<string, unknown>;
    const a = Buffer.from(new Float32Array([1, 2, 3, 4.5]).buffer);
    const b = Buffer.from([9, 8, 7]);
    const msg = {
      model_name: 'm',
      id: 'x',
      parameters: { p: { int64_param: 5 } },
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [4] },
        { name: 'b', datatype: 'UINT8', shape: [3] },
      ],
      outputs: [{ name: 'o' }],
      raw_input_contents: [a, b],
    };
    const bytes = encode(msg);
    const taken: ArrayBuffer[] = [];
    const memory = {
      acquire: (n: number) => {
        const ab = new ArrayBuffer(n);
        taken.push(ab);
        return ab;
      },
      release: () => undefined,
    };
    for (const step of [1, 3, 7, bytes.length]) {
      const s = new InferRequestSplitter(bytes.length, memory);
      for (let i = 0; i < bytes.length; i += step) {
        assert.equal(s.complete, false);
        s.push(bytes.subarray(i, Math.min(bytes.length, i + step)));
      }
      assert.equal(s.complete, true, `step ${step}`);
      const out = s.finish();
      assert.deepEqual(out.raw, [a, b]);
      for (const r of out.raw) {
        assert.equal(r.buffer, out.memory);
        assert.equal(r.byteOffset % 8, 0);
      }
      assert.deepEqual(decode(out.meta), decode(encode({ ...msg, raw_input_contents: [] })));
    }
    assert.equal(taken.length, 4, 'one buffer per message');
    // A message cut inside a field, or with a field longer than the message, is refused.
    const cut = new InferRequestSplitter(bytes.length - 1, memory);
    assert.throws(() => cut.push(bytes.subarray(0, bytes.length - 1)), {
      code: 'INVALID_ARGUMENT',
      message: /not a ModelInferRequest/,
    });
  });

  it('counts typed tensor contents without decoding them', () => {
    const encode = proto().requestSerialize as (v: unknown) => Buffer;
    const msg = encode({
      model_name: 'm',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [3], contents: { fp32_contents: [1, 2, 3] } },
        { name: 'b', datatype: 'INT32', shape: [2], parameters: {} },
      ],
      raw_input_contents: [Buffer.alloc(8)],
    });
    // fp32_contents: tag + length + 3 × 4 bytes, inside contents.
    assert.equal(typedContentsBytes(msg), 2 + 12);
    assert.equal(typedContentsBytes(encode({ model_name: 'm', inputs: [] })), 0);
  });
});
