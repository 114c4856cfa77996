/**
 * HTTP-specific cases: the wire codec on hand-built bodies (expected bytes worked
 * out from the binary tensor extension: little-endian, row-major, blobs in tensor
 * order), the frontend over a real LocalClient serving the fixture models, and the
 * client against small misbehaving servers on loopback (a proxy's HTML 502, a
 * reply cut off mid-body, a server that never answers). The cases shared by every
 * transport live in suite.test.ts.
 */
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import {
  decodeInferRequest,
  decodeInferResponse,
  encodeErrorBody,
  encodeInferRequest,
  encodeInferResponse,
  parseErrorBody,
} from '../../src/protocol/http-codec';
import { HttpClient } from '../../src/client/http';
import { LocalClient } from '../../src/client/local';
import type { InferResponse, Tensor } from '../../src/protocol/types';
import { startHttpFrontend, type HttpFrontend } from '../../src/server/http-frontend';
import { buildFixtureRepository } from '../support/fixtures';
import { seededValues } from '../support/ort';

type Coded = Error & { code?: string };

function expectCode(code: string, pattern?: RegExp): (err: Coded) => boolean {
  return (err) => {
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

function jsonPart(body: Buffer, headers: Record<string, string>): Record<string, unknown> {
  const n = Number(headers['Inference-Header-Content-Length']);
  return JSON.parse(body.subarray(0, n).toString('utf8')) as Record<string, unknown>;
}

/** One plain HTTP exchange without keep-alive, so tests leave no sockets behind. */
function rawRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface Stub {
  port: number;
  close(): Promise<void>;
}

async function startStub(handler: http.RequestListener): Promise<Stub> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A TCP server that writes exactly `reply` (raw HTTP bytes) to each connection. */
async function startRawStub(reply: (socket: net.Socket) => void): Promise<Stub> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', () => reply(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function netHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => /TCP|Pipe|TLS/i.test(r)).length;
}

async function eventually(check: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

describe('HTTP wire codec', () => {
  it('writes binary inputs little-endian in input order, after a JSON header of the stated length', () => {
    const { headers, body } = encodeInferRequest({
      model: 'm',
      inputs: [
        { name: 'half', datatype: 'FP16', shape: [2], data: new Float32Array([1, -2]) },
        {
          name: 'big',
          datatype: 'INT64',
          shape: [2],
          data: new BigInt64Array([-1n, 2n ** 62n + 1n]),
        },
        { name: 'flags', datatype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
      ],
    });
    assert.equal(headers['Content-Type'], 'application/octet-stream');
    const json = jsonPart(body, headers);
    assert.deepEqual(json, {
      inputs: [
        { name: 'half', shape: [2], datatype: 'FP16', parameters: { binary_data_size: 4 } },
        { name: 'big', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } },
        { name: 'flags', shape: [3], datatype: 'BOOL', parameters: { binary_data_size: 3 } },
      ],
      // No outputs listed: ask for all of them as binary at request level.
      parameters: { binary_data_output: true },
    });
    const blobs = body.subarray(Number(headers['Inference-Header-Content-Length']));
    // FP16 1.0 = 0x3C00, -2.0 = 0xC000; INT64 -1 = all ones, 2^62+1 = 0x4000000000000001.
    // prettier-ignore
    const expected = Buffer.from([
      0x00, 0x3c, 0x00, 0xc0,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40,
      0x01, 0x00, 0x01,
    ]);
    assert.deepEqual(blobs, expected);
    assert.equal(Number(headers['Content-Length']), body.length);
  });

  it('asks for listed outputs with binary_data, or as JSON when binaryOutputs is false', () => {
    const input: Tensor = { name: 'x', datatype: 'FP32', shape: [1], data: new Float32Array([3]) };
    const bin = encodeInferRequest({
      model: 'm',
      id: 'r1',
      inputs: [input],
      outputs: [{ name: 'y' }],
    });
    const j1 = jsonPart(bin.body, bin.headers);
    assert.equal(j1.id, 'r1');
    assert.deepEqual(j1.outputs, [{ name: 'y', parameters: { binary_data: true } }]);
    assert.equal(j1.parameters, undefined);
    const plain = encodeInferRequest(
      { model: 'm', inputs: [input], outputs: [{ name: 'y' }] },
      { binaryOutputs: false, binaryInputs: false },
    );
    assert.equal(plain.headers['Inference-Header-Content-Length'], undefined);
    assert.deepEqual(JSON.parse(plain.body.toString()), {
      inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [3] }],
      outputs: [{ name: 'y', parameters: { binary_data: false } }],
    });
  });

  it('round-trips FP32, FP16, INT64, BOOL and UINT8 inputs through the server-side decoder', () => {
    const inputs: Tensor[] = [
      { name: 'f', datatype: 'FP32', shape: [2, 2], data: new Float32Array([0.1, -3.5, 1e-30, 7]) },
      // Values exactly representable in half precision survive unchanged.
      { name: 'h', datatype: 'FP16', shape: [3], data: new Float32Array([0.5, -65504, 2 ** -24]) },
      { name: 'i', datatype: 'INT64', shape: [1], data: new BigInt64Array([-(2n ** 63n)]) },
      { name: 'b', datatype: 'BOOL', shape: [2], data: new Uint8Array([0, 1]) },
      { name: 'u', datatype: 'UINT8', shape: [1, 3], data: new Uint8Array([0, 128, 255]) },
    ];
    const { headers, body } = encodeInferRequest({ model: 'm', version: '2', inputs });
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    const got = decodeInferRequest(body, lower, { model: 'm', version: '2' });
    assert.equal(got.model, 'm');
    assert.equal(got.version, '2');
    assert.deepEqual(got.binaryOutputs, { all: true, byName: {} });
    assert.deepEqual(
      got.inputs.map((t) => [
        t.name,
        t.datatype,
        t.shape,
        Array.from(t.data as ArrayLike<unknown>),
      ]),
      inputs.map((t) => [t.name, t.datatype, t.shape, Array.from(t.data as ArrayLike<unknown>)]),
    );
  });

  it('round-trips a response in output order, binary and JSON outputs mixed', () => {
    const resp: InferResponse = {
      model: 'm',
      version: '1',
      id: 'abc',
      outputs: [
        { name: 'a', datatype: 'FP32', shape: [2], data: new Float32Array([1.5, -2.25]) },
        { name: 'b', datatype: 'INT32', shape: [1, 2], data: new Int32Array([-7, 9]) },
        { name: 'c', datatype: 'FP16', shape: [1], data: new Float32Array([0.25]) },
      ],
    };
    const { headers, body } = encodeInferResponse(resp, { all: true, byName: { b: false } });
    const json = jsonPart(body, headers) as { outputs: Record<string, unknown>[] };
    assert.deepEqual(
      json.outputs.map((o) => o.name),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(json.outputs[1]!.data, [-7, 9]);
    // a: 8 bytes then c: 2 bytes (0.25 = 0x3400), in output order, b contributing none.
    const blobs = body.subarray(Number(headers['Inference-Header-Content-Length']));
    assert.deepEqual(blobs.subarray(8), Buffer.from([0x00, 0x34]));
    const back = decodeInferResponse(body, headers);
    assert.equal(back.model, 'm');
    assert.equal(back.version, '1');
    assert.equal(back.id, 'abc');
    assert.deepEqual(
      back.outputs.map((t) => [
        t.name,
        t.datatype,
        t.shape,
        Array.from(t.data as ArrayLike<number>),
      ]),
      [
        ['a', 'FP32', [2], [1.5, -2.25]],
        ['b', 'INT32', [1, 2], [-7, 9]],
        ['c', 'FP16', [1], [0.25]],
      ],
    );
  });

  it('reads a pure JSON response with nested data (no Inference-Header-Content-Length)', () => {
    const body = Buffer.from(
      JSON.stringify({
        model_name: 'm',
        model_version: '3',
        outputs: [
          {
            name: 'p',
            datatype: 'FP32',
            shape: [2, 2],
            data: [
              [1, 2],
              [3, 4],
            ],
          },
          { name: 'q', datatype: 'BOOL', shape: [2], data: [true, false] },
          { name: 'r', datatype: 'INT64', shape: [1], data: [42] },
        ],
      }),
    );
    const res = decodeInferResponse(body, { 'content-type': 'application/json' });
    assert.deepEqual(Array.from(res.outputs[0]!.data as Float32Array), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(res.outputs[1]!.data as Uint8Array), [1, 0]);
    assert.deepEqual(Array.from(res.outputs[2]!.data as BigInt64Array), [42n]);
  });

  it('says PROTOCOL_ERROR, naming the problem, for bodies that do not add up', () => {
    const resp: InferResponse = {
      model: 'm',
      version: '1',
      outputs: [{ name: 'a', datatype: 'FP32', shape: [4], data: new Float32Array(4) }],
    };
    const { headers, body } = encodeInferResponse(resp, true);
    const lower = { 'inference-header-content-length': headers['Inference-Header-Content-Length'] };
    assert.throws(
      () => decodeInferResponse(body.subarray(0, body.length - 3), lower),
      expectCode('PROTOCOL_ERROR', /truncated.*'a'/),
    );
    assert.throws(
      () => decodeInferResponse(Buffer.concat([body, Buffer.alloc(5)]), lower),
      expectCode('PROTOCOL_ERROR', /longer than its header/),
    );
    assert.throws(
      () =>
        decodeInferResponse(body, { 'inference-header-content-length': String(body.length + 10) }),
      expectCode('PROTOCOL_ERROR', /only \d+ bytes/),
    );
    assert.throws(
      () => decodeInferResponse(Buffer.from('{"outputs": [tru'), {}),
      expectCode('PROTOCOL_ERROR', /not valid/),
    );
    assert.throws(
      () => decodeInferResponse(body, { 'inference-header-content-length': 'ten' }),
      expectCode('PROTOCOL_ERROR', /not a byte count/),
    );
    // A blob size that disagrees with shape × datatype.
    const lying = Buffer.from(
      JSON.stringify({
        outputs: [{ name: 'z', datatype: 'FP32', shape: [3], parameters: { binary_data_size: 8 } }],
      }),
    );
    assert.throws(
      () =>
        decodeInferResponse(Buffer.concat([lying, Buffer.alloc(8)]), {
          'inference-header-content-length': String(lying.length),
        }),
      expectCode('PROTOCOL_ERROR', /'z' is FP32 \[3\], which is 12 bytes/),
    );
  });

  it('decodes a request as tritonclient sends it: JSON data inputs and output choices', () => {
    const body = Buffer.from(
      JSON.stringify({
        id: '7',
        parameters: { binary_data_output: true },
        inputs: [
          {
            name: 'x',
            datatype: 'INT32',
            shape: [2, 2],
            data: [
              [1, 2],
              [3, 4],
            ],
          },
        ],
        outputs: [{ name: 'y', parameters: { binary_data: false } }, { name: 'z' }],
      }),
    );
    const req = decodeInferRequest(body, { 'content-type': 'application/json' }, { model: 'm' });
    assert.equal(req.id, '7');
    assert.deepEqual(Array.from(req.inputs[0]!.data as Int32Array), [1, 2, 3, 4]);
    assert.deepEqual(req.outputs, [{ name: 'y' }, { name: 'z' }]);
    assert.deepEqual(req.binaryOutputs, { all: true, byName: { y: false } });
  });

  it('decodes a raw binary request from the model input metadata, batch taken as 1', () => {
    const values = new Float32Array([1, 2, 3, 4, 5, 6]);
    const body = Buffer.from(values.buffer);
    const req = decodeInferRequest(
      body,
      { 'inference-header-content-length': '0' },
      { model: 'm', rawInput: { name: 'img', datatype: 'FP32', shape: [-1, 2, -1] } },
    );
    assert.deepEqual(req.inputs[0]!.shape, [1, 2, 3]);
    assert.deepEqual(Array.from(req.inputs[0]!.data as Float32Array), Array.from(values));
    assert.equal(req.binaryOutputs.all, true);
    assert.throws(
      () =>
        decodeInferRequest(
          body.subarray(0, 20),
          { 'inference-header-content-length': '0' },
          { model: 'm', rawInput: { name: 'img', datatype: 'FP32', shape: [1, 2, 3] } },
        ),
      expectCode('INVALID_ARGUMENT', /20 bytes but input 'img'.*needs 24/),
    );
  });

  it('rejects malformed requests with INVALID_ARGUMENT and a sentence', () => {
    const bad =
      (json: unknown): (() => unknown) =>
      () =>
        decodeInferRequest(Buffer.from(JSON.stringify(json)), {}, { model: 'm' });
    assert.throws(bad({ inputs: [] }), expectCode('INVALID_ARGUMENT', /no 'inputs'/));
    assert.throws(
      bad({ inputs: [{ name: 'x', datatype: 'TYPE_FP32', shape: [1], data: [1] }] }),
      expectCode('INVALID_ARGUMENT', /bare name 'FP32'/),
    );
    assert.throws(
      bad({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3] }] }),
      expectCode('INVALID_ARGUMENT', /4 elements\) but 3 values/),
    );
    assert.throws(
      bad({ inputs: [{ name: 'x', datatype: 'FP16', shape: [1], data: [1] }] }),
      expectCode('INVALID_ARGUMENT', /FP16.*binary/),
    );
    assert.throws(
      bad({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }] }),
      expectCode('INVALID_ARGUMENT', /neither 'data' nor/),
    );
    assert.throws(
      () => decodeInferRequest(Buffer.from('not json'), {}, { model: 'm' }),
      expectCode('INVALID_ARGUMENT', /not valid/),
    );
    assert.throws(
      bad({
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }],
        outputs: [{ name: 'y', parameters: { classification: 3 } }],
      }),
      expectCode('UNSUPPORTED', /classification/),
    );
  });

  it('refuses FP16 as JSON output, as Triton does, and builds/parses KServe error bodies', () => {
    const resp: InferResponse = {
      model: 'm',
      version: '1',
      outputs: [{ name: 'h', datatype: 'FP16', shape: [1], data: new Float32Array([1]) }],
    };
    assert.throws(() => encodeInferResponse(resp, false), expectCode('INVALID_ARGUMENT', /FP16/));
    assert.equal(parseErrorBody(encodeErrorBody('model "x" gone')), 'model "x" gone');
    assert.equal(parseErrorBody(Buffer.from('<html>502</html>')), undefined);
    assert.equal(parseErrorBody(Buffer.alloc(0)), undefined);
  });
});

describe('HTTP client and frontend over the local backend', function () {
  this.timeout(60000);
  const repo = buildFixtureRepository();
  let backend: LocalClient;
  let frontend: HttpFrontend;
  let client: HttpClient;
  const mobileInput = (seed = 3): Tensor => ({
    name: 'input',
    datatype: 'FP32',
    shape: [1, 3, 224, 224],
    data: seededValues(3 * 224 * 224, seed),
  });

  before(async () => {
    backend = new LocalClient({ modelRepository: repo });
    frontend = await startHttpFrontend(backend, { host: '127.0.0.1', port: 0 });
    client = new HttpClient({ host: '127.0.0.1', port: frontend.port, timeoutMs: 20000 });
  });
  after(async () => {
    await client?.close();
    await frontend?.close();
    await backend?.close();
  });

  it('answers health with 200 and an empty body, and unknown models as not ready', async () => {
    const live = await rawRequest(frontend.port, 'GET', '/v2/health/live');
    assert.equal(live.status, 200);
    assert.equal(live.body.length, 0);
    assert.equal(await client.serverReady(), true);
    assert.equal(await client.modelReady('mobilenetv2', '1'), true);
    assert.equal(await client.modelReady('mobilenetv2', '2'), false);
    assert.equal(await client.modelReady('no_such_model'), false);
  });

  it('gives the same numbers for a JSON-only infer (data arrays) as for a binary one', async () => {
    const input = mobileInput(5);
    const binary = await client.infer({ model: 'mobilenetv2', inputs: [input] });
    const request = {
      inputs: [
        {
          name: 'input',
          datatype: 'FP32',
          shape: input.shape,
          data: Array.from(input.data as Float32Array),
        },
      ],
    };
    const res = await rawRequest(
      frontend.port,
      'POST',
      '/v2/models/mobilenetv2/infer',
      { 'Content-Type': 'application/json' },
      Buffer.from(JSON.stringify(request)),
    );
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.headers['inference-header-content-length'], undefined);
    const json = JSON.parse(res.body.toString()) as {
      model_name: string;
      outputs: { name: string; shape: number[]; data: number[] }[];
    };
    assert.equal(json.model_name, 'mobilenetv2');
    assert.deepEqual(json.outputs[0]!.shape, [1, 1000]);
    // JSON numbers carry float32 values exactly, so the two paths agree bit for bit.
    assert.deepEqual(json.outputs[0]!.data, Array.from(binary.outputs[0]!.data as Float32Array));
  });

  it('accepts a gzip request body and answers gzip when asked (tritonclient compression)', async () => {
    const input = mobileInput(8);
    const expected = await client.infer({ model: 'mobilenetv2', inputs: [input] });
    const enc = encodeInferRequest({ model: 'mobilenetv2', inputs: [input] });
    const gz = zlib.gzipSync(enc.body);
    // Inference-Header-Content-Length still counts the uncompressed JSON.
    const res = await rawRequest(
      frontend.port,
      'POST',
      '/v2/models/mobilenetv2/infer',
      {
        ...enc.headers,
        'Content-Length': String(gz.length),
        'Content-Encoding': 'gzip',
        'Accept-Encoding': 'gzip',
      },
      gz,
    );
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.headers['content-encoding'], 'gzip');
    const got = decodeInferResponse(zlib.gunzipSync(res.body), res.headers);
    assert.deepEqual(got.outputs[0]!.data, expected.outputs[0]!.data);
  });

  it('serves a raw binary request (Inference-Header-Content-Length: 0) with binary outputs', async () => {
    const input = mobileInput(9);
    const expected = await client.infer({ model: 'mobilenetv2', inputs: [input] });
    const bytes = Buffer.from((input.data as Float32Array).buffer);
    const res = await rawRequest(
      frontend.port,
      'POST',
      '/v2/models/mobilenetv2/infer',
      { 'Inference-Header-Content-Length': '0', 'Content-Type': 'application/octet-stream' },
      bytes,
    );
    assert.equal(res.status, 200, res.body.toString());
    const got = decodeInferResponse(res.body, res.headers);
    assert.deepEqual(got.outputs[0]!.shape, [1, 1000]);
    assert.deepEqual(got.outputs[0]!.data, expected.outputs[0]!.data);
  });

  it('answers an unknown path with 404 and a wrong method with 405, both JSON errors', async () => {
    const unknown = await rawRequest(frontend.port, 'GET', '/v2/nothing/here');
    assert.equal(unknown.status, 404);
    assert.match(parseErrorBody(unknown.body)!, /No KServe v2 endpoint/);
    const wrong = await rawRequest(frontend.port, 'POST', '/v2/health/live');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.allow, 'GET');
    assert.equal(parseErrorBody(wrong.body), 'Method Not Allowed');
    const notFound = await rawRequest(frontend.port, 'GET', '/v2/models/no_such_model');
    assert.equal(notFound.status, 404);
    assert.match(parseErrorBody(notFound.body)!, /no_such_model/);
  });

  it('maps backend errors to statuses the client turns back into the same codes', async () => {
    await assert.rejects(
      client.infer({ model: 'no_such_model', inputs: [mobileInput()] }),
      expectCode('NOT_FOUND', /no_such_model.*HTTP 404/),
    );
    await assert.rejects(
      client.infer({
        model: 'mobilenetv2',
        inputs: [{ ...mobileInput(), shape: [1, 3, 448, 112] }],
      }),
      expectCode('INVALID_ARGUMENT', /HTTP 400/),
    );
    // Codes that share a status (MODEL_NOT_READY and TRITON_UNAVAILABLE are both 503)
    // still come back exactly as the backend raised them.
    const direct = await backend.modelConfig('mobilenetv2', '7').catch((e: Coded) => e.code);
    assert.equal(typeof direct, 'string');
    await assert.rejects(client.modelConfig('mobilenetv2', '7'), expectCode(direct as string));
  });

  it('answers 413 with a JSON error for a body over maxBodyBytes', async () => {
    const small = await startHttpFrontend(backend, { port: 0, maxBodyBytes: 64 * 1024 });
    const c = new HttpClient({ port: small.port });
    try {
      const res = await rawRequest(
        small.port,
        'POST',
        '/v2/models/mobilenetv2/infer',
        {},
        Buffer.alloc(200 * 1024, 32),
      );
      assert.equal(res.status, 413);
      assert.match(parseErrorBody(res.body)!, /over this server's limit of 65536/);
      await assert.rejects(
        c.infer({ model: 'mobilenetv2', inputs: [mobileInput()] }),
        expectCode('MESSAGE_TOO_LARGE', /65536/),
      );
      assert.equal(await c.serverLive(), true);
    } finally {
      await c.close();
      await small.close();
    }
  });

  it('keeps working with the same client after the server restarts on the same port', async () => {
    const first = await startHttpFrontend(backend, { port: 0 });
    const port = first.port;
    const c = new HttpClient({ port, timeoutMs: 5000 });
    try {
      assert.equal(await c.serverLive(), true); // leaves a kept-alive socket in the pool
      await first.close();
      await assert.rejects(
        c.serverLive(),
        expectCode('TRITON_UNAVAILABLE', new RegExp(String(port))),
      );
      const second = await startHttpFrontend(backend, { port });
      try {
        assert.equal(await c.serverLive(), true);
        const res = await c.infer({ model: 'mobilenetv2', inputs: [mobileInput()] });
        assert.deepEqual(res.outputs[0]!.shape, [1, 1000]);
      } finally {
        await second.close();
      }
    } finally {
      await c.close();
    }
  });

  it('close() leaves no active handles, is idempotent, and later calls fail clearly', async () => {
    const before = netHandles();
    const c = new HttpClient({ port: frontend.port });
    await c.infer({ model: 'mobilenetv2', inputs: [mobileInput()] });
    assert.equal(await c.serverLive(), true);
    await c.close();
    await c.close();
    assert.ok(
      await eventually(() => netHandles() <= before),
      `handles: ${process.getActiveResourcesInfo().join(', ')}`,
    );
    await assert.rejects(c.serverLive(), expectCode('TRITON_UNAVAILABLE', /closed/));
  });
});

/** A self-signed certificate for 127.0.0.1 made for this test only (valid to 2126). */
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUe+AYudYDi6rY4X795KINvtSq/ZAwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNTA2NDExOFoYDzIxMjYxMTAx
MDY0MTE4WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAS9sjAgOLGq4WlCdjuUdDOeLQAVbDwj7UXlZ0oquXkTc4btC/EYd4tN
EacTeHiokOuYRLhTHezLIqfV6z4DNNQYo28wbTAdBgNVHQ4EFgQUail2p9j8PmdV
IeMnf3du92PEjFYwHwYDVR0jBBgwFoAUail2p9j8PmdVIeMnf3du92PEjFYwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDSAAwRQIgUHZI3wWnNrNuiaPJ3h7K1S6etngicpZ+aXeaFGXvwMYCIQDW
x8BASPkcMJ3k3BFZ+k7qsej0/aCSgEEyQp7jDcqC9g==
-----END CERTIFICATE-----
`;
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqwCBbEySslj90Ph/
fzhrrsBYaT1K1CYIWJOs565bBCuhRANCAAS9sjAgOLGq4WlCdjuUdDOeLQAVbDwj
7UXlZ0oquXkTc4btC/EYd4tNEacTeHiokOuYRLhTHezLIqfV6z4DNNQY
-----END PRIVATE KEY-----
`;

describe('HTTP client over TLS and kept-alive sockets', function () {
  this.timeout(20000);

  it('speaks HTTPS when tls is set, verifying the server against tls.ca by default', async () => {
    const server = https.createServer({ cert: TEST_CERT, key: TEST_KEY }, (_req, res) => {
      res.writeHead(200);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const trusted = new HttpClient({ port, tls: { ca: TEST_CERT } });
    const untrusted = new HttpClient({ port, tls: {} });
    const unverified = new HttpClient({ port, tls: { verify: false } });
    const plain = new HttpClient({ port, timeoutMs: 3000 });
    try {
      assert.equal(await trusted.serverLive(), true);
      await assert.rejects(
        untrusted.serverLive(),
        expectCode('TRITON_UNAVAILABLE', /TLS handshake.*tls\.ca/),
      );
      assert.equal(await unverified.serverLive(), true);
      // Plain HTTP to a TLS port: the server hangs up on the garbage handshake.
      await assert.rejects(plain.serverLive(), (err: Coded) => {
        assert.ok(['TRITON_UNAVAILABLE', 'PROTOCOL_ERROR'].includes(err.code!), err.message);
        return true;
      });
    } finally {
      for (const c of [trusted, untrusted, unverified, plain]) await c.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('retries once on a fresh socket when a kept-alive one was closed by the server', async () => {
    let connections = 0;
    // Answers the first request on each connection, then drops the connection
    // silently when a second request arrives on it (a keep-alive timeout race).
    const stub = await startRawStub((socket) => {
      connections++;
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n');
      socket.once('data', () => socket.destroy());
    });
    const c = new HttpClient({ port: stub.port });
    try {
      assert.equal(await c.serverLive(), true);
      assert.equal(await c.serverLive(), true);
      assert.equal(connections, 2);
    } finally {
      await c.close();
      await stub.close();
    }
  });
});

describe('HTTP client against servers that misbehave', function () {
  this.timeout(20000);

  it('server not running → TRITON_UNAVAILABLE at once, naming the port', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const c = new HttpClient({ port, timeoutMs: 5000 });
    const t0 = Date.now();
    await assert.rejects(
      c.serverReady(),
      expectCode('TRITON_UNAVAILABLE', new RegExp(`${port}.*refused`)),
    );
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
    await c.close();
  });

  it('a proxy HTML page → a short clear error, never the HTML itself', async () => {
    let status = 502;
    const stub = await startStub((_req, res) => {
      res.writeHead(status, { 'content-type': 'text/html' });
      res.end('<html><body><h1>Bad Gateway</h1><hr>nginx</body></html>');
    });
    const c = new HttpClient({ port: stub.port, timeoutMs: 3000 });
    try {
      const html = (err: Coded): void => {
        assert.match(err.message, /with an HTML page, not a KServe v2 reply/);
        assert.doesNotMatch(err.message, /<html|nginx/i);
      };
      await assert.rejects(c.modelMetadata('m'), (err: Coded) => {
        assert.equal(err.code, 'TRITON_UNAVAILABLE', err.message);
        assert.match(err.message, /HTTP 502 from 127\.0\.0\.1:\d+/);
        html(err);
        return true;
      });
      status = 404;
      await assert.rejects(c.infer({ model: 'm', inputs: [] }), (err: Coded) => {
        assert.equal(err.code, 'PROTOCOL_ERROR', err.message);
        html(err);
        return true;
      });
      // Health checks too: an HTML 502 is not "not ready", it is an error.
      status = 502;
      await assert.rejects(c.serverReady(), expectCode('TRITON_UNAVAILABLE'));
      // A login page answered with 200 where JSON was expected.
      status = 200;
      await assert.rejects(c.serverMetadata(), expectCode('PROTOCOL_ERROR', /HTML page/));
    } finally {
      await c.close();
      await stub.close();
    }
  });

  it('maps KServe JSON errors through the status table', async () => {
    const replies: [number, string][] = [
      [503, 'Request for model "m" is not ready'],
      [401, 'missing bearer token'],
      [501, 'unsupported'],
      [500, 'CUDA out of memory'],
    ];
    let i = 0;
    const stub = await startStub((_req, res) => {
      const [status, error] = replies[i++]!;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error }));
    });
    const c = new HttpClient({ port: stub.port });
    try {
      await assert.rejects(
        c.modelConfig('m'),
        expectCode('MODEL_NOT_READY', /not ready \(HTTP 503/),
      );
      await assert.rejects(
        c.serverMetadata(),
        expectCode('UNAUTHORIZED', /bearer token.*credentials/),
      );
      await assert.rejects(c.loadModel('m'), expectCode('UNSUPPORTED'));
      // A health endpoint answering 500 is an error, not "false".
      await assert.rejects(c.serverLive(), expectCode('INTERNAL', /CUDA out of memory/));
    } finally {
      await c.close();
      await stub.close();
    }
  });

  it('a reply cut off mid-body → TRITON_UNAVAILABLE saying how much arrived, not a hang', async () => {
    const head = JSON.stringify({
      model_name: 'm',
      model_version: '1',
      outputs: [
        { name: 'y', datatype: 'FP32', shape: [1000], parameters: { binary_data_size: 4000 } },
      ],
    });
    const total = Buffer.byteLength(head) + 4000;
    const stub = await startRawStub((socket) => {
      socket.write(
        `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nInference-Header-Content-Length: ${Buffer.byteLength(head)}\r\nContent-Length: ${total}\r\n\r\n${head}`,
      );
      socket.write(Buffer.alloc(1000));
      setTimeout(() => socket.destroy(), 20);
    });
    const c = new HttpClient({ port: stub.port, timeoutMs: 10000 });
    try {
      const t0 = Date.now();
      await assert.rejects(
        c.infer({
          model: 'm',
          inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: new Float32Array(1) }],
        }),
        expectCode('TRITON_UNAVAILABLE', new RegExp(`closed after \\d+ of ${total} bytes`)),
      );
      assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
    } finally {
      await c.close();
      await stub.close();
    }
  });

  it('a reply that ends cleanly but short of its binary data → PROTOCOL_ERROR', async () => {
    const head = JSON.stringify({
      outputs: [{ name: 'y', datatype: 'FP32', shape: [10], parameters: { binary_data_size: 40 } }],
    });
    const stub = await startRawStub((socket) => {
      // HTTP/1.0-style body delimited by the close: it "ends" after 12 of 40 bytes.
      socket.end(
        `HTTP/1.1 200 OK\r\nConnection: close\r\nInference-Header-Content-Length: ${Buffer.byteLength(head)}\r\n\r\n${head}${'\0'.repeat(12)}`,
      );
    });
    const c = new HttpClient({ port: stub.port });
    try {
      await assert.rejects(
        c.infer({
          model: 'm',
          inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: new Float32Array(1) }],
        }),
        expectCode('PROTOCOL_ERROR', /truncated: tensor 'y' needs 40 bytes/),
      );
    } finally {
      await c.close();
      await stub.close();
    }
  });

  it('deadline → TIMEOUT; abort → CANCELLED; the client still works afterwards', async () => {
    const stub = await startStub((req, res) => {
      if (req.url === '/v2/health/live') {
        res.writeHead(200);
        res.end();
      }
      // Anything else: never answer.
    });
    const c = new HttpClient({ port: stub.port, timeoutMs: 10000 });
    try {
      let t0 = Date.now();
      await assert.rejects(
        c.modelMetadata('m', undefined, { timeoutMs: 150 }),
        expectCode('TIMEOUT', /150 ms/),
      );
      assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
      const ac = new AbortController();
      t0 = Date.now();
      const pending = c.modelConfig('m', undefined, { signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await assert.rejects(pending, expectCode('CANCELLED', /cancelled/));
      assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
      await assert.rejects(c.serverLive({ signal: AbortSignal.abort() }), expectCode('CANCELLED'));
      assert.equal(await c.serverLive(), true);
    } finally {
      await c.close();
      await stub.close();
    }
  });

  it('a reply over maxMessageBytes → MESSAGE_TOO_LARGE while streaming; a request over it is not sent', async () => {
    let requests = 0;
    const stub = await startStub((req, res) => {
      requests++;
      if (req.url === '/v2/health/live') {
        res.writeHead(200);
        res.end();
        return;
      }
      // Chunked, no Content-Length: only counting while streaming can catch it.
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < 16; i++) res.write(Buffer.alloc(16 * 1024, 32));
      res.end('{}');
    });
    const c = new HttpClient({ port: stub.port, maxMessageBytes: 64 * 1024 });
    try {
      await assert.rejects(c.serverMetadata(), expectCode('MESSAGE_TOO_LARGE', /65536/));
      const seen = requests;
      await assert.rejects(
        c.infer({
          model: 'm',
          inputs: [{ name: 'x', datatype: 'FP32', shape: [32768], data: new Float32Array(32768) }],
        }),
        expectCode('MESSAGE_TOO_LARGE', /request is \d+ bytes/),
      );
      assert.equal(requests, seen, 'the oversized request never reached the server');
      assert.equal(await c.serverLive(), true);
    } finally {
      await c.close();
      await stub.close();
    }
  });

  it('sends the configured headers on every request and normalises a wrapped config', async () => {
    const auth: (string | undefined)[] = [];
    const stub = await startStub((req, res) => {
      auth.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url === '/v2/models/m/versions/2/config') {
        // What a proxy relaying gRPC's MessageToJson would send: wrapper, int64 strings,
        // max_batch_size left out because it is 0.
        res.end(
          JSON.stringify({
            config: {
              name: 'm',
              platform: 'onnxruntime_onnx',
              input: [{ name: 'images', data_type: 'TYPE_FP32', dims: ['1', '3', '640', '640'] }],
              output: [{ name: 'output0', data_type: 'TYPE_FP32', dims: ['1', '84', '8400'] }],
            },
          }),
        );
      } else {
        res.end(
          JSON.stringify({ model_stats: [{ name: 'm', version: '2', inference_count: '5' }] }),
        );
      }
    });
    const c = new HttpClient({ port: stub.port, headers: { Authorization: 'Bearer s3cret' } });
    try {
      const cfg = await c.modelConfig('m', '2');
      assert.equal(cfg.max_batch_size, 0);
      assert.deepEqual(cfg.input[0]!.dims, [1, 3, 640, 640]);
      assert.deepEqual(cfg.output[0]!.dims, [1, 84, 8400]);
      assert.equal(cfg.backend, '');
      const stats = await c.modelStatistics('m', '2');
      assert.equal(stats[0]!.inference_count, 5);
      assert.deepEqual(stats[0]!.inference_stats.success, { count: 0, ns: 0 });
      assert.deepEqual(auth, ['Bearer s3cret', 'Bearer s3cret']);
    } finally {
      await c.close();
      await stub.close();
    }
  });
});
