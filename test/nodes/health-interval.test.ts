/**
 * Health intervals beyond setTimeout's range (2^31 - 1 ms, 24.86 days) wait in steps
 * instead of overflowing to a 1 ms poll. Nobody can wait a month in a test, so the clock
 * is faked (only setTimeout/clearTimeout); the server is a real local client.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import FakeTimers from '@sinonjs/fake-timers';
import { LocalClient } from '../../src/client/local';
import { migrateHealth } from '../../src/nodes/config';
import { ServerConnection } from '../../src/nodes/connection';
import { HealthController, MAX_TIMER_MS } from '../../src/nodes/health';
import { StatusText } from '../../src/nodes/status';
import type { Node, NodeAPI, NodeMessage } from '../../src/nodes/types';
import { buildFixtureRepository } from '../support/fixtures';
import { SMALL_MODELS } from '../support/flows';

const DAY_MS = 86400e3;

describe('health node: intervals longer than setTimeout allows', function () {
  this.timeout(60000);
  let repo: string;
  before(() => {
    repo = buildFixtureRepository(SMALL_MODELS.filter((m) => m.name === 'yolov8n'));
  });
  after(() => fs.rmSync(repo, { recursive: true, force: true }));

  it('a 30-day interval checks at 0 and at 30 days, never in between (no overflow to 1 ms)', async () => {
    const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout'] });
    const overflow: Error[] = [];
    const onWarning = (w: Error): void => {
      if (w.name === 'TimeoutOverflowWarning') overflow.push(w);
    };
    process.on('warning', onWarning);
    const client = new LocalClient({ modelRepository: repo, workerThreads: 0 });
    const connection = new ServerConnection(client);
    const sent: NodeMessage[] = [];
    let waiter: (() => void) | undefined;
    const node = {
      id: 'health',
      status: () => undefined,
      send: (m: NodeMessage) => {
        sent.push(m);
        waiter?.();
      },
      error: () => undefined,
    } as unknown as Node;
    const nextSend = (): Promise<void> => new Promise((resolve) => (waiter = resolve));
    const status = new StatusText({ _: (k: string) => k } as unknown as NodeAPI, 'triton-health');
    const config = { ...migrateHealth({ interval: 30 * 86400, emit: 'always' }) };
    const controller = new HealthController(node, config, connection, status);
    try {
      const first = nextSend();
      controller.start();
      clock.tick(0);
      await first;
      assert.equal(sent.length, 1);
      // One timer, within setTimeout's range.
      const timers = clock.countTimers();
      assert.equal(timers, 1);
      clock.tick(MAX_TIMER_MS);
      await new Promise((r) => setImmediate(r));
      assert.equal(sent.length, 1, 'nothing after 24.86 days');
      clock.tick(30 * DAY_MS - MAX_TIMER_MS - 1);
      await new Promise((r) => setImmediate(r));
      assert.equal(sent.length, 1, 'nothing 1 ms before 30 days');
      const second = nextSend();
      clock.tick(1);
      await second;
      assert.equal(sent.length, 2, 'the second check, at 30 days');
      assert.deepEqual(overflow, []);
    } finally {
      process.off('warning', onWarning);
      await controller.close();
      await connection.close();
      clock.uninstall();
    }
  });
});
