// 09 Keep alive on the wire: the server's 1.5 × Keep Alive watchdog, PINGREQ/PINGRESP and the
// MQTT 5 Server Keep Alive (sections 3.1.2.10, 3.2.2.3.14, 3.12). Real time, with 1 s keep alives;
// the tests are independent, so they run concurrently.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { bye, expectDisconnect, expectSilentClose, online, onlineWith, ping, sleep } from './helpers.js';

describe('09 keep alive', { concurrency: true }, () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer();
    port = t.port();
  });
  after(() => t.close());

  it('[MQTT-3.1.2-24] MQTT 3.1.1: a client silent for 1.5 × Keep Alive is disconnected, without any packet', async () => {
    const c = await online(port, 4, { keepalive: 1 });
    const started = Date.now();
    await expectSilentClose(c, 4000);
    const took = Date.now() - started;
    assert.ok(took >= 1400 && took < 3500, `closed after ${took} ms (1.5 × 1 s expected)`);
  });

  it('MQTT 5 [MQTT-3.1.2-22] [MQTT-3.14.4-1] [MQTT-3.14.4-2] [MQTT-3.14.2-2] a client silent for 1.5 × Keep Alive gets DISCONNECT 0x8D (Keep Alive timeout), nothing after it, then the close', async () => {
    const c = await online(port, 5, { keepalive: 1 });
    const started = Date.now();
    await expectDisconnect(c, 0x8d, 4000);
    const took = Date.now() - started;
    assert.ok(took >= 1400 && took < 3500, `closed after ${took} ms`);
  });

  it('[MQTT-3.12.4-1] PINGREQ keeps the connection open, each answered by PINGRESP', async () => {
    const c = await online(port, 4, { keepalive: 1 });
    for (let i = 0; i < 6; i++) {
      await sleep(500);
      assert.deepEqual(await ping(c), []);
    }
    bye(c);
  });

  it('[MQTT-3.1.2-24] any control packet, not only PINGREQ, counts as activity', async () => {
    const c = await online(port, 5, { keepalive: 1 });
    for (let i = 0; i < 6; i++) {
      await sleep(500);
      c.send({ cmd: 'publish', topic: 'ka/activity', payload: String(i), qos: 0 });
    }
    assert.deepEqual(await ping(c), [], 'still connected after 3 s of publishing');
    bye(c);
  });

  it('[MQTT-3.1.2-24] Keep Alive 0 turns the watchdog off', async () => {
    const c = await online(port, 4, { keepalive: 0 });
    await sleep(2000);
    assert.equal(c.closed, false);
    assert.deepEqual(await ping(c), []);
    bye(c);
  });

  it('MQTT 5 [MQTT-3.2.2-22] without Server Keep Alive the server uses the client value: 2 s is not cut at 1.5 s', async () => {
    const { client, connack } = await onlineWith(port, 5, { keepalive: 2 });
    assert.equal(connack.properties?.serverKeepAlive, undefined);
    await sleep(2000);
    assert.equal(client.closed, false, 'open after 2 s of silence with a 2 s keep alive');
    await expectDisconnect(client, 0x8d, 3000);
  });
});

describe('09 keep alive capped by the server (mqttMaxKeepAliveSec 1)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ mqttMaxKeepAliveSec: '1' });
  });
  after(() => t.close());

  it('MQTT 5 [MQTT-3.2.2-21] Server Keep Alive in CONNACK replaces the client value, and the server enforces it', async () => {
    const { client, connack } = await onlineWith(t.port(), 5, { keepalive: 60 });
    assert.equal(connack.properties?.serverKeepAlive, 1);
    const started = Date.now();
    await expectDisconnect(client, 0x8d, 4000);
    const took = Date.now() - started;
    assert.ok(took >= 1400 && took < 3500, `closed after ${took} ms`);
  });
});
