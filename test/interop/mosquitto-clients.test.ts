// Interop with Eclipse Mosquitto's command-line clients (Debian mosquitto-clients): mosquitto_pub and
// mosquitto_sub against Starling over TCP, MQTT 3.1, 3.1.1 and 5.0. Every run is bounded: mosquitto_sub
// always gets -C (message count) and -W (seconds), and each process has a hard kill time.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Child, describeRun, requireExecutable, run } from '../helpers/cli-clients.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const PUB = '/usr/bin/mosquitto_pub';
const SUB = '/usr/bin/mosquitto_sub';
const PACKAGE = 'mosquitto-clients';
/** mosquitto_sub block-buffers stdout into a pipe; stdbuf (coreutils) makes it line-buffered. */
const STDBUF = '/usr/bin/stdbuf';

interface Line {
  topic: string;
  qos: number;
  retain: boolean;
  payload: string;
}

/** mosquitto_sub prints each message as `MSG topic|qos|retain|payload` (payload last: it may hold '|'). */
const FORMAT = 'MSG %t|%q|%r|%p';

function parse(stdout: string): Line[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('MSG '))
    .map((l) => {
      const [topic, qos, retain, ...rest] = l.slice(4).split('|');
      return { topic, qos: Number(qos), retain: retain === '1', payload: rest.join('|') };
    });
}

let seq = 0;
const unique = (s: string): string => `${s}-${process.pid}-${++seq}`;

describe('Mosquitto clients (mosquitto_pub / mosquitto_sub)', () => {
  let t: TestServer;
  let port: string;
  before(async () => {
    t = await startTestServer();
    port = String(t.port());
  });
  after(() => t?.close());

  const base = (version: string): string[] => ['-h', '127.0.0.1', '-p', port, '-V', version];

  /** Each test fails (not skips) with the package to install when a tool is missing. */
  function needTools(): void {
    requireExecutable(PUB, PACKAGE);
    requireExecutable(SUB, PACKAGE);
    requireExecutable(STDBUF, 'coreutils');
  }

  /** Starts mosquitto_sub and resolves once the server has acknowledged its subscription. */
  async function subscriber(version: string, filter: string, count: number, extra: string[] = [], seconds = 10): Promise<Child> {
    const args = [...base(version), '-t', filter, '-q', '2', '-C', String(count), '-W', String(seconds), '-d', '-F', FORMAT, ...extra];
    const sub = new Child(STDBUF, ['-oL', SUB, ...args], (seconds + 5) * 1000);
    await sub.waitFor(/received SUBACK/);
    return sub;
  }

  async function publish(version: string, topic: string, message: string | null, qos: number, extra: string[] = []): Promise<void> {
    const body = message === null ? ['-n'] : ['-m', message];
    const r = await run(PUB, [...base(version), '-t', topic, ...body, '-q', String(qos), ...extra]);
    assert.equal(r.code, 0, `mosquitto_pub failed: ${describeRun(r)}`);
  }

  for (const version of ['mqttv311', '5']) {
    it(`${version}: QoS 0, 1 and 2 from mosquitto_pub reach mosquitto_sub at their QoS`, async () => {
      needTools();
      const root = unique(`mq/${version}`);
      const sub = await subscriber(version, `${root}/#`, 3);
      for (const qos of [0, 1, 2]) await publish(version, `${root}/q${qos}`, `payload ${qos}`, qos);
      const r = await sub.done;
      assert.equal(r.code, 0, describeRun(r));
      assert.deepEqual(
        parse(r.stdout).map((l) => [l.topic, l.qos, l.retain, l.payload]),
        [0, 1, 2].map((q) => [`${root}/q${q}`, q, false, `payload ${q}`]),
      );
    });

    it(`${version}: a retained message reaches a later mosquitto_sub with the retain flag, and an empty retained message clears it`, async () => {
      needTools();
      const topic = unique(`mqr/${version}`);
      await publish(version, topic, 'kept', 1, ['-r']);
      const late = await run(SUB, [...base(version), '-t', topic, '-q', '1', '-C', '1', '-W', '5', '-F', FORMAT], 10_000);
      assert.equal(late.code, 0, describeRun(late));
      assert.deepEqual(parse(late.stdout), [{ topic, qos: 1, retain: true, payload: 'kept' }]);
      await publish(version, topic, null, 1, ['-r']);
      const none = await run(SUB, [...base(version), '-t', topic, '-C', '1', '-W', '1', '-F', FORMAT], 10_000);
      assert.deepEqual(parse(none.stdout), [], 'nothing retained after the empty retained message');
      assert.notEqual(none.code, 0, 'mosquitto_sub timed out waiting');
    });

    it(`${version}: a persistent session (-c) keeps the QoS 1 and 2 messages published while mosquitto_sub was away`, async () => {
      needTools();
      const id = unique(`mqc${version === '5' ? '5' : '4'}`);
      const topic = unique(`mqc/${version}`);
      const session = version === '5' ? ['-x', '300'] : [];
      // -E: subscribe, then exit; the session stays on the server.
      const first = await run(SUB, [...base(version), '-i', id, '-c', ...session, '-t', topic, '-q', '2', '-E', '-W', '5'], 10_000);
      assert.equal(first.code, 0, describeRun(first));
      await publish(version, topic, 'while away 1', 1);
      await publish(version, topic, 'while away 2', 2);
      const again = await run(SUB, [...base(version), '-i', id, '-c', ...session, '-t', topic, '-q', '2', '-C', '2', '-W', '5', '-F', FORMAT], 10_000);
      assert.equal(again.code, 0, describeRun(again));
      assert.deepEqual(
        parse(again.stdout).map((l) => [l.payload, l.qos]),
        [
          ['while away 1', 1],
          ['while away 2', 2],
        ],
      );
    });
  }

  it('mqttv31 (MQIsdp) publisher and subscriber, and mixed versions on one topic', async () => {
    needTools();
    const topic = unique('mq31');
    const sub31 = await subscriber('mqttv31', topic, 3);
    const sub5 = await subscriber('5', topic, 3);
    await publish('mqttv31', topic, 'from 3.1', 1);
    await publish('mqttv311', topic, 'from 3.1.1', 2);
    await publish('5', topic, 'from 5', 1);
    for (const sub of [sub31, sub5]) {
      const r = await sub.done;
      assert.equal(r.code, 0, describeRun(r));
      // In arrival order of the prints, not of the PUBLISHes: libmosquitto hands a QoS 2 message to
      // mosquitto_sub only at its PUBREL, so on a loaded machine the next publisher's QoS 1 message
      // (another client: MQTT orders only one client's messages) can be printed before it.
      const got = parse(r.stdout).map((l) => [l.payload, l.qos] as [string, number]);
      assert.deepEqual(got.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), [
        ['from 3.1', 1],
        ['from 3.1.1', 2],
        ['from 5', 1],
      ]);
    }
  });

  it('the will of a mosquitto_sub killed with SIGKILL is published to another mosquitto_sub', async () => {
    needTools();
    const willTopic = unique('mqwill');
    const watcher = await subscriber('mqttv311', willTopic, 1);
    const dying = new Child(STDBUF, ['-oL', SUB, ...base('5'), '-t', unique('mqwill/quiet'), '-W', '20', '-d', '--will-topic', willTopic, '--will-payload', 'gone', '--will-qos', '1'], 25_000);
    await dying.waitFor(/received SUBACK/);
    dying.kill('SIGKILL');
    await dying.done;
    const r = await watcher.done;
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(parse(r.stdout).map((l) => [l.topic, l.payload, l.qos]), [[willTopic, 'gone', 1]]);
  });
});
