// A healthy client that must keep being served while others misbehave (issue 12's tests): it
// subscribes to its own topic, and each check() makes one more round trip through the broker and
// asserts it was never dropped.
import assert from 'node:assert/strict';
import type { IClientOptions, MqttClient } from 'mqtt';
import { connectClient, Inbox } from './mqttjs.js';
import type { TestServer } from './server.js';

export interface HealthyClient {
  client: MqttClient;
  /** Times the client's connection closed. */
  closed(): number;
  /** One more round trip (bounded, 10 s); fails if it never arrives or the client was ever dropped. */
  check(what?: string): Promise<void>;
}

export async function healthyClient(t: TestServer, options: IClientOptions = {}): Promise<HealthyClient> {
  const client = await connectClient(t.url('ws'), { protocolVersion: 5, clientId: `healthy-${Math.random().toString(16).slice(2, 8)}`, ...options });
  let closed = 0;
  client.on('close', () => closed++);
  const inbox = new Inbox(client);
  await client.subscribeAsync('healthy/#', { qos: 1 });
  let n = 0;
  return {
    client,
    closed: () => closed,
    check: async (what) => {
      n++;
      await client.publishAsync('healthy/x', String(n), { qos: 1 });
      await inbox.waitFor(n, 10_000);
      assert.equal(closed, 0, `${what ? `${what}: ` : ''}the healthy client was never dropped`);
    },
  };
}
