/**
 * Headers sent as gRPC metadata, checked from the server's side: a frontend behind a grpc-js
 * interceptor that demands `authorization: Bearer s3cret`, as an authenticating proxy in
 * front of Triton would, and two clients of it, one configured with the token (and
 * `x-flow: f1`), one with no headers.
 */
import * as grpc from '@grpc/grpc-js';
import { GrpcClient } from '../../src/client/grpc';
import type { InferenceClient } from '../../src/protocol/types';
import { startGrpcFrontend } from '../../src/server/grpc-frontend';

/** What the guard answers a call without the token (status UNAUTHENTICATED). */
export const GUARD_REFUSAL = 'missing or wrong bearer token';

export interface GuardedFrontend {
  /** Sends `authorization: Bearer s3cret` and `x-flow: f1`. */
  withToken: GrpcClient;
  /** Sends no headers. */
  without: GrpcClient;
  /** `authorization|x-flow` as the server received them, one entry per call. */
  seen: string[];
  close(): Promise<void>;
}

export async function startGuardedFrontend(backend: InferenceClient): Promise<GuardedFrontend> {
  const seen: string[] = [];
  const auth: grpc.ServerInterceptor = (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (md, mdNext) => {
            seen.push(`${md.get('authorization')[0]}|${md.get('x-flow')[0]}`);
            if (md.get('authorization')[0] !== 'Bearer s3cret') {
              call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: GUARD_REFUSAL });
              return;
            }
            mdNext(md);
          },
        });
      },
    });
  const frontend = await startGrpcFrontend(backend, { port: 0, interceptors: [auth] });
  const withToken = new GrpcClient({
    port: frontend.port,
    headers: { Authorization: 'Bearer s3cret', 'x-flow': 'f1' },
  });
  const without = new GrpcClient({ port: frontend.port });
  return {
    withToken,
    without,
    seen,
    close: async () => {
      await withToken.close();
      await without.close();
      await frontend.close();
    },
  };
}
