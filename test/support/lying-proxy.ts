/**
 * A gateway on loopback that lies on demand in front of a real server: the retry tests of
 * the replica client (test/client/replicas.test.ts) and of the nodes (test/nodes/fleet.test.ts).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LyingProxy {
  port: number;
  /** Statuses to answer the next inference requests with, in order; then requests pass. */
  plan: number[];
  inferRequests: number;
  /** Paths and Host headers that reached the proxy. */
  seen: { path: string; host: string }[];
  close(): Promise<void>;
}

/**
 * A gateway on loopback in front of `targetPort`. Inference requests get the statuses in
 * `plan` first (502 as nginx's HTML page, 503 as a KServe JSON error, 504 with an empty
 * body, 400 as a KServe JSON error); with `prefix`, only paths under it are served (the
 * prefix stripped) and anything else is a 404.
 */
export async function startLyingProxy(targetPort: number, prefix = ''): Promise<LyingProxy> {
  const state: LyingProxy = {
    port: 0,
    plan: [],
    inferRequests: 0,
    seen: [],
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    state.seen.push({ path: url, host: String(req.headers.host) });
    if (prefix && !url.startsWith(`${prefix}/`)) {
      req.resume();
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
      return;
    }
    const upstreamPath = url.slice(prefix.length);
    const isInfer = req.method === 'POST' && /\/infer$/.test(upstreamPath);
    if (isInfer) state.inferRequests++;
    const lie = isInfer ? state.plan.shift() : undefined;
    if (lie !== undefined) {
      req.resume();
      req.on('end', () => {
        if (lie === 502) {
          res
            .writeHead(502, { 'content-type': 'text/html' })
            .end('<html><body>502 Bad Gateway</body></html>');
        } else if (lie === 504) {
          res.writeHead(504).end();
        } else {
          res
            .writeHead(lie, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: lie === 503 ? 'server is busy' : 'bad input' }));
        }
      });
      return;
    }
    const up = http.request(
      {
        host: '127.0.0.1',
        port: targetPort,
        method: req.method,
        path: upstreamPath,
        headers: req.headers,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
