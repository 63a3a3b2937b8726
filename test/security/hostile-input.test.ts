// The single packets that used to end the whole process (issue 12): client strings of ~65,500 bytes
// quoted into a Reason String the encoder could not write. Each is sent raw (mqtt-packet) over TCP
// and WebSocket, MQTT 5 and 3.1.1, with authentication off and on; the offender gets the spec's
// reason code (or, in 3.1.1, the close), a Reason String of a few hundred bytes at most, and a
// healthy MQTT.js client on the same broker is served throughout and never dropped.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runPasswd } from '../../src/cli/passwd.js';
import { REASON_STRING_MAX_BYTES } from '../../src/protocol/reason-string.js';
import { endClient } from '../helpers/mqttjs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { healthyClient, type HealthyClient } from '../helpers/healthy.js';
import { WireClient, type WirePacket } from '../helpers/wire.js';

const BIG = 'a'.repeat(65_500);
const USER = 'alice';
const PASSWORD = 'alice-pw';

interface Attack {
  name: string;
  /** Protocol versions it applies to. */
  versions: number[];
  /** Extra CONNECT fields; when set, the CONNECT itself is the attack. */
  connect?: Record<string, unknown>;
  /** The packet sent after a successful CONNECT. */
  packet?: Record<string, unknown>;
  /** MQTT 5 reason code expected (CONNACK for a CONNECT attack, DISCONNECT after); 3.1.1 is closed. */
  code: number;
}

const ATTACKS: Attack[] = [
  { name: 'CONNECT with a 65,500-byte Authentication Method', versions: [5], connect: { properties: { authenticationMethod: BIG } }, code: 0x8c },
  {
    name: 'CONNECT with a 65,500-byte will topic holding +',
    versions: [5, 4],
    connect: { will: { topic: `${BIG.slice(0, 32_000)}/+/${BIG.slice(0, 33_496)}`, payload: Buffer.from('w'), qos: 0, retain: false } },
    code: 0x90,
  },
  { name: 'PUBLISH to a/<65,500 bytes>/#', versions: [5, 4], packet: { cmd: 'publish', topic: `a/${BIG}/#`, payload: Buffer.from('x'), qos: 0, retain: false, dup: false }, code: 0x90 },
  { name: 'SUBSCRIBE to <65,500 bytes>#', versions: [5, 4], packet: { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${BIG}#`, qos: 0 }] }, code: 0x8f },
  { name: 'SUBSCRIBE to $share/<65,500 bytes>', versions: [5, 4], packet: { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `$share/${BIG}`, qos: 0 }] }, code: 0x8f },
];

async function addUser(file: string): Promise<void> {
  const stdin = new PassThrough();
  stdin.end(`${PASSWORD}\n`);
  const quiet = { stdout: new PassThrough(), stderr: new PassThrough() };
  assert.equal(await runPasswd(['--password-stdin', file, USER], { stdin, ...quiet }), 0);
}

for (const auth of [false, true]) {
  describe(`hostile strings never end the process (authentication ${auth ? 'on' : 'off'})`, () => {
    let t: TestServer;
    let dir: string;
    let healthy: HealthyClient;
    const credentials = auth ? { username: USER, password: PASSWORD } : {};

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'starling-hostile-'));
      const flags: Record<string, string> = {};
      if (auth) {
        const passwords = join(dir, 'passwd');
        await addUser(passwords);
        Object.assign(flags, { mqttAuthenticationEnabled: 'true', mqttAuthenticationMethods: 'basic', mqttPasswordFile: passwords });
      }
      t = await startTestServer(flags);
      healthy = await healthyClient(t, credentials);
    });
    after(async () => {
      await endClient(healthy.client, true);
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    });

    for (const transport of ['mqtt', 'ws'] as const) {
      for (const attack of ATTACKS) {
        for (const version of attack.versions) {
          it(`${attack.name}, MQTT ${version === 5 ? '5' : '3.1.1'} over ${transport === 'ws' ? 'WebSocket' : 'TCP'}: the offender gets ${version === 5 ? `0x${attack.code.toString(16)}` : 'the close'}, the healthy client is served`, async () => {
            const wire = transport === 'ws' ? await WireClient.openWs(t.url('ws'), version) : await WireClient.open(t.port(), version);
            try {
              let answer: WirePacket | undefined;
              if (attack.connect) {
                wire.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean: true, keepalive: 30, clientId: `hostile-${version}`, ...credentials, ...attack.connect });
                answer = await wire.nextOrClose(10_000);
                if (version === 5) {
                  assert.equal(answer?.cmd, 'connack');
                  assert.equal(answer?.reasonCode, attack.code);
                }
              } else {
                const { connack } = await WireClient.handshake(wire, { clientId: `hostile-${version}`, ...credentials });
                assert.equal(connack.reasonCode ?? connack.returnCode, 0, 'the offender is let in first');
                wire.send(attack.packet!);
                answer = await wire.nextOrClose(10_000);
                if (version === 5) {
                  assert.equal(answer?.cmd, 'disconnect');
                  assert.equal(answer?.reasonCode, attack.code);
                }
              }
              if (version !== 5) assert.equal(answer, undefined, 'MQTT 3.1.1 has no code for it: the connection is closed');
              const reason = answer?.properties?.reasonString as string | undefined;
              if (reason !== undefined) {
                assert.ok(Buffer.byteLength(reason) <= REASON_STRING_MAX_BYTES, `Reason String of ${Buffer.byteLength(reason)} bytes`);
                assert.ok(!reason.includes(BIG.slice(0, 1000)), 'the client string is not quoted in full');
              }
              assert.equal(await wire.waitClosed(10_000), true, 'the offender is closed');
            } finally {
              wire.end();
            }
            await healthy.check();
          });
        }
      }
    }
  });
}
