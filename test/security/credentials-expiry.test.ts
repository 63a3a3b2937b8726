// Credentials with an end: a connection authenticated by a JWT ends when the token expires (MQTT 5:
// DISCONNECT 0x87 with a Reason String; 3.1.1: closed), and the log says why. Any enhanced
// authentication method that gives credentials an end is held to it; a re-authentication (AUTH
// 0x19) with new credentials moves the deadline. Packets built and parsed by mqtt-packet.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { loadConfig } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import type { AuthStep, EnhancedAuthenticator } from '../../src/hooks/enhanced-auth.js';
import { captureLog } from '../auth/helpers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { WireClient, type WirePacket } from '../helpers/wire.js';
import { sleep } from '../conformance/helpers.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!';

/** A token for `sub` that expires `seconds` from now (exp has whole seconds). */
const token = (sub: string, seconds: number): Promise<string> =>
  new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime(Math.floor(Date.now() / 1000) + seconds).sign(new TextEncoder().encode(SECRET));

/** Reads packets until one that is not PINGRESP, or the close (bounded). */
async function nextNotPing(c: WireClient, timeoutMs: number): Promise<WirePacket | undefined> {
  for (let i = 0; i < 100; i++) {
    const p = await c.nextOrClose(timeoutMs);
    if (p?.cmd !== 'pingresp') return p;
  }
  assert.fail('too many PINGRESPs');
}

describe('a JWT connection ends when the token expires', () => {
  let server: RunningServer;
  let port: number;
  const { log, lines } = captureLog();
  before(async () => {
    const config = loadConfig({
      env: {},
      flags: {
        mqttListeners: 'mqtt://127.0.0.1:0',
        persistence: 'memory',
        mqttAuthenticationEnabled: 'true',
        mqttAuthenticationMethods: 'token',
        mqttTokenSecret: SECRET,
        mqttTokenClockToleranceSec: '0',
      },
    });
    server = await startServer(config, log);
    port = server.listeners[0].port;
  });
  after(() => server.close());

  it('MQTT 5: DISCONNECT 0x87 (Not authorized) with a Reason String once exp has passed, then the close; the log says why', async () => {
    const { client: c, connack } = await WireClient.connect(port, { clientId: 'jwt-exp-5', username: 'x', password: Buffer.from(await token('dev-5', 3)) }, 5);
    assert.equal(connack.reasonCode, 0);
    c.send({ cmd: 'pingreq' });
    assert.equal((await c.next()).cmd, 'pingresp', 'working before exp');
    const started = Date.now();
    const p = await nextNotPing(c, 15_000);
    assert.ok(p, 'a DISCONNECT before the close');
    assert.equal(p.cmd, 'disconnect');
    assert.equal(p.reasonCode, 0x87);
    assert.match(String(p.properties?.reasonString), /credentials expired/);
    assert.equal(await c.waitClosed(5000), true);
    assert.ok(Date.now() - started < 14_000);
    const line = lines().find((l) => l.clientId === 'jwt-exp-5' && /credentials expired/.test(String(l.reason)));
    assert.ok(line, 'a log line names the client and why it was closed');
  });

  it('MQTT 3.1.1: the connection is closed once exp has passed', async () => {
    const { client: c, connack } = await WireClient.connect(port, { clientId: 'jwt-exp-4', username: 'x', password: Buffer.from(await token('dev-4', 2)) }, 4);
    assert.equal(connack.returnCode, 0);
    assert.equal(await c.waitClosed(15_000), true, 'closed after exp');
  });

  it('MQTT 5 (4.12.1): with Authentication Method JWT, a re-authentication with a fresh token keeps the connection past the first exp', async () => {
    const auth = async (reasonCode: number, tok: string): Promise<WirePacket> => {
      c.send({ cmd: 'auth', reasonCode, properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(tok) } });
      return nextNotPing(c, 10_000) as Promise<WirePacket>;
    };
    const { client: c, connack } = await WireClient.connect(port, { clientId: 'jwt-renew', properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(await token('dev-r', 2)) } }, 5);
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.authenticationMethod, 'JWT');
    const renewed = await auth(0x19, await token('dev-r', 3600));
    assert.equal(renewed.cmd, 'auth');
    assert.equal(renewed.reasonCode, 0);
    await sleep(3500);
    c.send({ cmd: 'pingreq' });
    assert.equal((await c.next()).cmd, 'pingresp', 'still connected past the first token’s exp');
    // A token for someone else does not renew this connection: it would become another user's.
    const other = await auth(0x19, await token('someone-else', 3600));
    assert.equal(other.cmd, 'disconnect');
    assert.equal(other.reasonCode, 0x87);
    assert.equal(await c.waitClosed(5000), true);
  });

  it('MQTT 5: a re-authentication with an expired token ends the connection with DISCONNECT 0x87', async () => {
    const { client: c, connack } = await WireClient.connect(port, { clientId: 'jwt-stale', properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(await token('dev-s', 3600)) } }, 5);
    assert.equal(connack.reasonCode, 0);
    c.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(await token('dev-s', -60)) } });
    const p = await nextNotPing(c, 10_000);
    assert.equal(p?.cmd, 'disconnect');
    assert.equal(p?.reasonCode, 0x87);
  });

  it('a token valid for long keeps its connection', async () => {
    const { client: c, connack } = await WireClient.connect(port, { clientId: 'jwt-long', username: 'x', password: Buffer.from(await token('dev-l', 3600)) }, 5);
    assert.equal(connack.reasonCode, 0);
    await sleep(1500);
    c.send({ cmd: 'pingreq' });
    assert.equal((await c.next()).cmd, 'pingresp');
    c.end();
  });
});

describe('credentialsExpireAt from an enhanced authentication method, moved by re-authentication', () => {
  // A method whose credentials last as many milliseconds as the client asks ("ttl=1500").
  const METHOD = 'TEST-EXPIRING';
  const expiring: EnhancedAuthenticator = {
    method: METHOD,
    start: () => ({
      step: (data): AuthStep => {
        const ttl = Number(/^ttl=(\d+)$/.exec(String(data ?? ''))?.[1]);
        return Number.isFinite(ttl) ? { kind: 'success', username: 'holder', expiresAt: Date.now() + ttl } : { kind: 'failure' };
      },
    }),
  };
  let t: TestServer;
  before(async () => {
    t = await startTestServer({}, { hooks: { authenticators: [expiring] } });
  });
  after(() => t.close());

  const connectFor = async (clientId: string, ttl: number): Promise<WireClient> => {
    const { client, connack } = await WireClient.connect(t.port(), { clientId, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from(`ttl=${ttl}`) } }, 5);
    assert.equal(connack.reasonCode, 0);
    return client;
  };
  const reauth = async (c: WireClient, ttl: number): Promise<void> => {
    c.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from(`ttl=${ttl}`) } });
    const ok = await c.next(5000);
    assert.equal(ok.cmd, 'auth');
    assert.equal(ok.reasonCode, 0);
  };

  it('MQTT 5: the connection ends with DISCONNECT 0x87 when the method’s credentials expire', async () => {
    const c = await connectFor('expiring-1', 1500);
    const p = await nextNotPing(c, 15_000);
    assert.equal(p?.cmd, 'disconnect');
    assert.equal(p?.reasonCode, 0x87);
    assert.equal(await c.waitClosed(5000), true);
  });

  it('MQTT 5 (4.12.1): a re-authentication with new credentials moves the deadline, later or sooner', async () => {
    const c = await connectFor('expiring-2', 1500);
    await reauth(c, 60_000);
    await sleep(3000);
    c.send({ cmd: 'pingreq' });
    assert.equal((await c.next()).cmd, 'pingresp', 'still connected past the first deadline');
    await reauth(c, 500);
    const p = await nextNotPing(c, 15_000);
    assert.equal(p?.cmd, 'disconnect');
    assert.equal(p?.reasonCode, 0x87);
    assert.equal(await c.waitClosed(5000), true);
  });
});
