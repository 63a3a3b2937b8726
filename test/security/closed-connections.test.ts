// A connection the broker has closed is let go once its socket is gone. Closing, the broker gives a
// peer 2 s to let the socket end before destroying it; that timer held the whole connection (its
// channel, the client id, what it was sent) for those 2 s even when the socket was already gone, so
// a client connecting with 64,000-character client ids and leaving in a loop had the last 2 s of
// them held: 300 such connects held 16 MiB. Real sockets, raw packets (mqtt-packet), the broker in
// this process so what it holds can be read after full collections.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { WireClient } from '../helpers/wire.js';
import { fullGc, liveBytes, MiB } from '../helpers/heap.js';
import { waitUntil } from '../helpers/wait.js';

const LONG = 64_000;

describe('closed connections are let go', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ mqttMessageMaxLength: '131072', maxClientMemory: '1048576' });
  });
  after(() => t.close());

  for (const [transport, version] of [['tcp', 4], ['ws', 5]] as const) {
    it(`${transport}, MQTT ${version === 5 ? '5' : '3.1.1'}: 300 connects with ${LONG}-character client ids, each DISCONNECTed, hold nothing once their sockets are gone`, async () => {
      const N = 300;
      const open = async (): Promise<WireClient> => (transport === 'tcp' ? WireClient.open(t.port(), version) : WireClient.openWs(t.url('ws'), version));
      const once = async (clientId: string): Promise<void> => {
        const { client, connack } = await WireClient.handshake(await open(), { clientId, ...(version === 5 ? { properties: {} } : {}) });
        assert.equal(connack.cmd, 'connack');
        assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, 0);
        client.send({ cmd: 'disconnect', ...(version === 5 ? { reasonCode: 0 } : {}) });
        assert.ok(await client.waitClosed(5000), 'the broker closes after DISCONNECT');
      };
      for (let i = 0; i < 10; i++) await once(`warm-${transport}-${i}`);
      const gc = fullGc();
      const baseline = liveBytes(gc);
      for (let i = 0; i < N; i++) await once(`${transport}-${i}-`.padEnd(LONG, 'x'));
      await waitUntil(() => t.server.connections.size === 0, 'every connection gone', 5000);
      const grown = liveBytes(gc) - baseline;
      // Measured: 17–19 MiB before (all 300 ids of the last 2 s), 0.2 MiB after.
      assert.ok(grown < 4 * MiB, `${(grown / MiB).toFixed(1)} MiB held after ${N} connects with ${LONG}-character ids have gone`);
      assert.equal(t.server.broker.sessions.size, 0);
    });
  }
});
