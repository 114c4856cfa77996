/**
 * The network clients share one reading of their options: the same defaults, and the
 * same refusals (INVALID_CONFIG naming the option) for gRPC and HTTP.
 */
import { strict as assert } from 'node:assert';
import { GrpcClient } from '../../src/client/grpc';
import { HttpClient } from '../../src/client/http';
import { resolveRemoteOptions } from '../../src/client/remote';
import type { RemoteClientOptions } from '../../src/protocol/types';

describe('remote client options', () => {
  it('defaults: 127.0.0.1, the protocol port, 30 s, 256 MiB; IPv6 hosts bracketed', () => {
    assert.deepEqual(resolveRemoteOptions({}, 'gRPC', 8001), {
      host: '127.0.0.1',
      port: 8001,
      endpoint: '127.0.0.1:8001',
      timeoutMs: 30000,
      maxMessageBytes: 256 * 1024 * 1024,
    });
    assert.equal(resolveRemoteOptions({ host: '::1' }, 'HTTP', 8000).endpoint, '[::1]:8000');
    assert.equal(resolveRemoteOptions({ host: '[::1]' }, 'HTTP', 8000).endpoint, '[::1]:8000');
  });

  const bad: [RemoteClientOptions, RegExp][] = [
    [{ port: 70000 }, /port 70000 is not a port number/],
    [{ port: 1.5 }, /port 1.5 is not a port number/],
    [{ timeoutMs: 0 }, /timeoutMs is 0/],
    [{ timeoutMs: Infinity }, /timeoutMs is Infinity/],
    [{ maxMessageBytes: -1 }, /maxMessageBytes is -1/],
    [{ tls: { cert: 'x' } }, /both a client certificate and its key/],
  ];
  for (const [Client, protocol] of [
    [GrpcClient, 'gRPC'],
    [HttpClient, 'HTTP'],
  ] as const) {
    it(`${protocol}: refuses options it cannot honour with INVALID_CONFIG`, () => {
      for (const [options, message] of bad) {
        assert.throws(
          () => new Client(options),
          (err: Error & { code?: string }) => {
            assert.equal(err.code, 'INVALID_CONFIG');
            assert.match(err.message, message);
            assert.match(err.message, new RegExp(`^${protocol} `));
            return true;
          },
          JSON.stringify(options),
        );
      }
    });
  }

  it('gRPC caps maxMessageBytes at its 32-bit limit', () => {
    assert.throws(() => new GrpcClient({ maxMessageBytes: 2 ** 31 }), /up to 2147483647/);
  });
});
