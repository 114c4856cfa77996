/**
 * The triton-vision-serve replicas of the replica benches (replicas.ts: the client,
 * replicas-node.ts: the node), on loopback, onnxruntime on one thread each, so that the
 * replicas, not one server's thread pool, are what is compared.
 */
import { startServe, type ServeHandle } from '../test/support/serve';

const ONE_THREAD = ['--intra-op-threads', '1'];

export class ReplicaServers {
  private constructor(
    private readonly repository: string,
    private readonly servers: ServeHandle[],
  ) {}

  /** `count` replicas of the models in `repository`, started one after the other. */
  static async start(repository: string, count: number): Promise<ReplicaServers> {
    const started = new ReplicaServers(repository, []);
    try {
      for (let i = 0; i < count; i++) {
        started.servers.push(await startServe({ repository, extraArgs: ONE_THREAD }));
      }
    } catch (err) {
      await started.stop();
      throw err;
    }
    return started;
  }

  /** Replica `i`'s port for the transport. */
  port(i: number, mode: 'grpc' | 'http'): number {
    const s = this.servers[i]!;
    return mode === 'grpc' ? s.grpcPort : s.httpPort;
  }

  /** SIGKILLs replica `i` (a crash, as far as clients can tell) and waits for its exit. */
  kill(i: number): Promise<void> {
    return this.servers[i]!.kill();
  }

  /** Starts replica `i` again (after a kill) on the ports it had. */
  async restart(i: number): Promise<void> {
    const { httpPort, grpcPort } = this.servers[i]!;
    this.servers[i] = await startServe({
      repository: this.repository,
      extraArgs: ONE_THREAD,
      httpPort,
      grpcPort,
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }
}
