/**
 * Our gRPC client against our own gRPC frontend, both on node:http2, with many large
 * requests and replies crossing at once. Node's HTTP/2 session stops reading its socket
 * while one of its own writes is pending; if both ends let the other send megabytes
 * without reading (large receive windows on both), each can end up waiting, writing, for
 * the other to read: a deadlock that only the deadline ends. The client's receive window
 * stays small enough that the server's writes always fit in the kernel's buffers, so the
 * server keeps reading (issue 11: found by the transport bench hanging at concurrency 4);
 * it is wide only while no upload runs, and an upload waits until the server has
 * acknowledged the narrow window.
 */
import { strict as assert } from 'node:assert';
import * as http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { GrpcClient } from '../../src/client/grpc';
import { encodeInferResponseFrame } from '../../src/protocol/grpc-infer-server';
import type { InferRequest } from '../../src/protocol/types';
import { FIXTURE_REPOSITORY, buildFixtureRepository } from '../support/fixtures';
import { startInstantStub, type InstantStub } from '../support/instant-stub';

/** A yolov8-sized ModelInfer reply frame of `bytes` UINT8 output, as chunks to write. */
function uint8Reply(bytes: number): Buffer[] {
  const out = new Uint8Array(bytes).fill(7);
  return encodeInferResponseFrame({
    model_name: 'm',
    model_version: '1',
    id: '',
    outputs: [{ name: 'y', datatype: 'UINT8', shape: [out.length] }],
    raw_output_contents: [out],
  })!.chunks;
}

/**
 * A node:http2 server that lets the client send 16 MiB unread (per stream and for the
 * connection), each stream handed to `onStream`; close() also ends a stuck session.
 */
async function largeWindowServer(
  onStream: (stream: http2.ServerHttp2Stream) => void,
): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http2.createServer({ settings: { initialWindowSize: 16 * 1024 * 1024 } });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => sockets.add(socket));
  server.on('session', (session) =>
    session.on('connect', () => session.setLocalWindowSize(16 * 1024 * 1024)),
  );
  server.on('stream', onStream);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy(); // a stuck session never closes by itself
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Starts a gRPC reply with OK trailers once the body is ended. */
function respondOk(stream: http2.ServerHttp2Stream): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
}

/**
 * A server for the window tests: reads each request whole, then answers with `replyBytes`
 * and calls onReplyStart, recording the receive window the client offered
 * (SETTINGS_INITIAL_WINDOW_SIZE) when each request's first byte arrived and at the reply.
 */
async function windowServer(
  replyBytes: number,
  onReplyStart: () => void = () => undefined,
): Promise<{
  port: number;
  windowAtUpload: number[];
  windowAtReply: number[];
  /** The connections the requests came on. */
  sessions: Set<http2.Http2Session>;
  close: () => Promise<void>;
}> {
  const reply = uint8Reply(replyBytes);
  const windowAtUpload: number[] = [];
  const windowAtReply: number[] = [];
  const sessions = new Set<http2.Http2Session>();
  const server = await largeWindowServer((stream) => {
    const session = stream.session!;
    sessions.add(session);
    let first = true;
    stream.on('data', () => {
      if (first) windowAtUpload.push(session.remoteSettings.initialWindowSize!);
      first = false;
    });
    stream.on('end', () => {
      respondOk(stream);
      // The client widens its window once its upload has left: give its SETTINGS a moment.
      setTimeout(() => {
        windowAtReply.push(session.remoteSettings.initialWindowSize!);
        for (const c of reply) stream.write(c);
        stream.end();
        onReplyStart();
      }, 20);
    });
  });
  return { ...server, windowAtUpload, windowAtReply, sessions };
}

function uint8Request(bytes: number): InferRequest {
  const data = new Uint8Array(bytes).fill(3);
  return { model: 'm', inputs: [{ name: 'x', datatype: 'UINT8', shape: [data.length], data }] };
}

describe('gRPC client: receive window', function () {
  this.timeout(60000);

  it('offers 64 KiB per stream while it uploads and 16 MiB while it only reads', async () => {
    const server = await windowServer(4 * 1024 * 1024);
    const client = new GrpcClient({ host: '127.0.0.1', port: server.port });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await client.infer(uint8Request(4 * 1024 * 1024), { timeoutMs: 20000 });
        assert.equal(res.outputs[0]!.shape[0], 4 * 1024 * 1024);
        res.release?.();
      }
      assert.deepEqual(server.windowAtUpload, [65535, 65535, 65535]);
      assert.deepEqual(server.windowAtReply, [16 << 20, 16 << 20, 16 << 20]);
    } finally {
      await client.close();
      await server.close();
    }
  });

  /**
   * A 16 MB call; when its reply starts, a second 16 MB call. Returns the server's record
   * once both have completed.
   */
  async function uploadDuringReply(
    connections: number | undefined,
  ): Promise<Awaited<ReturnType<typeof windowServer>>> {
    const ref: { client?: GrpcClient } = {};
    const second: Promise<unknown>[] = [];
    const server = await windowServer(16 * 1024 * 1024, () => {
      if (second.length === 0) {
        second.push(ref.client!.infer(uint8Request(16 * 1024 * 1024), { timeoutMs: 20000 }));
      }
    });
    const client = new GrpcClient({ host: '127.0.0.1', port: server.port, connections });
    ref.client = client;
    try {
      const first = await client.infer(uint8Request(16 * 1024 * 1024), { timeoutMs: 20000 });
      first.release?.();
      assert.equal(second.length, 1);
      const res = (await second[0]) as Awaited<ReturnType<GrpcClient['infer']>>;
      assert.equal(res.outputs[0]!.shape[0], 16 * 1024 * 1024);
      res.release?.();
      return server;
    } finally {
      await client.close();
      await server.close();
    }
  }

  it('on one connection, a second upload starts while a 16 MB reply runs on the wide window: both complete', async () => {
    // The second upload must wait until the server has taken the narrow window back:
    // written at once, it and the server's 16 MB reply each wait for the other end to read.
    const server = await uploadDuringReply(1);
    assert.equal(server.sessions.size, 1);
    assert.deepEqual(server.windowAtUpload, [65535, 65535]);
  });

  it('by default, an upload that finds the connection busy takes a second one: both complete', async () => {
    // On a connection of its own it neither waits nor narrows the running reply's window.
    const server = await uploadDuringReply(undefined);
    assert.equal(server.sessions.size, 2);
    assert.deepEqual(server.windowAtUpload, [65535, 65535]);
    assert.deepEqual(server.windowAtReply, [16 << 20, 16 << 20]);
  });
});

describe('gRPC client: an upload crossing a large reply', function () {
  this.timeout(60000);

  it('a server on node:http2 that answers 16 MB before reading a 16 MB request: the call completes', async () => {
    // Both ends on Node, both windows large, both sending megabytes at once: with a
    // large receive window on the client too, each end waits for the other to read (the
    // call hangs until its deadline).
    const reply = uint8Reply(16 * 1024 * 1024);
    let received = 0;
    const server = await largeWindowServer((stream) => {
      stream.session?.setLocalWindowSize(16 * 1024 * 1024);
      stream.on('data', (c: Buffer) => (received += c.length));
      respondOk(stream);
      for (const c of reply) stream.write(c);
      stream.on('end', () => stream.end());
    });
    const client = new GrpcClient({ host: '127.0.0.1', port: server.port });
    try {
      const request = uint8Request(16 * 1024 * 1024);
      const sent = 16 * 1024 * 1024;
      // Twice on one connection: first as opened (narrow), then after the first call has
      // opened the window wide and ended: the second, alone on the connection, starts its
      // upload without waiting for the server to acknowledge the narrow size.
      for (const call of ['first', 'second']) {
        received = 0;
        const res = await client.infer(request, { timeoutMs: 20000 });
        assert.equal(res.outputs[0]!.shape[0], 16 * 1024 * 1024, call);
        assert.ok(received > sent, `${call}: the server read the request (${received} B)`);
        res.release?.();
      }
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe('gRPC client and frontend: large requests and replies crossing', function () {
  this.timeout(120000);
  let stub: InstantStub;

  before(async () => {
    stub = await startInstantStub(
      buildFixtureRepository(FIXTURE_REPOSITORY.filter((m) => m.name === 'yolov8n')),
    );
  });
  after(async () => {
    await stub?.stop();
  });

  // On one connection every upload shares it with the others' replies (the window rule);
  // by default they spread over connections of their own.
  for (const connections of [1, undefined]) {
    it(`bursts of 8 concurrent 4.9 MB requests with 2.8 MB replies all complete (connections: ${connections ?? 'default'})`, async () => {
      const client = new GrpcClient({ host: '127.0.0.1', port: stub.grpc, connections });
      const data = new Float32Array(3 * 640 * 640).fill(0.5);
      const request: InferRequest = {
        model: 'yolov8n',
        inputs: [{ name: 'images', datatype: 'FP32', shape: [1, 3, 640, 640], data }],
      };
      try {
        for (let burst = 0; burst < 6; burst++) {
          const replies = await Promise.all(
            Array.from({ length: 8 }, () => client.infer(request, { timeoutMs: 15000 })),
          );
          for (const r of replies) {
            assert.deepEqual(r.outputs[0]!.shape, [1, 84, 8400]);
            r.release?.();
          }
        }
      } finally {
        await client.close();
      }
    });
  }
});
