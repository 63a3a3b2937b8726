// `starling pub`/`sub` as people who know mosquitto_pub/mosquitto_sub type them: --version, the
// topic checked before connecting, QoS 1/2 refusals with their reason code and a non-zero exit,
// -L URLs, -v/-N/-R/-F format strings (compared with mosquitto_sub's own output), --repeat, -d, and
// failures explained (unknown flag, wrong transport for the port, TLS without a CA).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, subscribed } from './run.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { certificateFixture } from '../transport/helpers.js';
import { describeRun, requireExecutable, run } from '../helpers/cli-clients.js';

const SUB = '/usr/bin/mosquitto_sub';

describe('starling pub / sub: mosquitto_pub / mosquitto_sub habits', () => {
  let t: TestServer;
  let dir: string;
  let certs: Awaited<ReturnType<typeof certificateFixture>>;
  let tls: TestServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'starling-cli-'));
    const acl = join(dir, 'acl');
    // Anonymous clients may publish to open/# only.
    writeFileSync(acl, 'topic readwrite open/#\n');
    t = await startTestServer({ mqttAuthorizationEnabled: 'true', mqttAclFile: acl });
    certs = await certificateFixture();
    tls = await startTestServer({
      mqttListeners: 'mqtt+ssl://127.0.0.1:0,ws+ssl://127.0.0.1:0',
      mqttTlsCertificateFilePath: certs.a.certFile,
      mqttTlsKeyFilePath: certs.a.keyFile,
    });
  });
  after(async () => {
    await t?.close();
    await tls?.close();
    certs?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the version with --version on starling and on every command', async () => {
    for (const args of [[], ['start'], ['pub'], ['sub'], ['config'], ['certs'], ['passwd']]) {
      const r = await cli([...args, '--version']);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
      assert.match(r.out, /^starling \d+\.\d+\.\d+/, args.join(' '));
    }
  });

  it('refuses an invalid publish topic before connecting [MQTT-3.3.2-2], [MQTT-4.7.3-1], [MQTT-1.5.3-2]', async () => {
    // Port 1: nothing listens there, so the message proves no connection was tried.
    for (const [topic, why] of [
      ['x/#', /wildcard \[MQTT-3\.3\.2-2\]/],
      ['x/+/y', /wildcard/],
      ['', /empty \[MQTT-4\.7\.3-1\]/],
      ['a\u0000b', /U\+0000 \[MQTT-1\.5\.3-2\]/],
      ['é'.repeat(40_000), /80000 bytes long; MQTT allows at most 65535/],
    ] as const) {
      const r = await cli(['pub', '-p', '1', '-t', topic, '-m', 'x']);
      assert.equal(r.code, 1, topic.slice(0, 20));
      assert.match(r.err, why);
      assert.doesNotMatch(r.err, /ECONNREFUSED/);
    }
    const sub = await cli(['sub', '-p', '1', '-t', 'a/#/b']);
    assert.equal(sub.code, 1);
    assert.match(sub.err, /invalid subscription topic: .*MQTT-4\.7\.1-2/);
  });

  it('names an unknown flag instead of asking for -t', async () => {
    for (const cmd of ['pub', 'sub']) {
      const r = await cli([cmd, '--bogus', '-t', 'x', '-m', 'y']);
      assert.equal(r.code, 2);
      assert.match(r.err, /unknown option '--bogus'/);
      assert.doesNotMatch(r.err, /required option/);
    }
  });

  for (const [qos, version, expect] of [
    ['1', '5', /refused the message on "closed\/x": 0x87 Not Authorized/],
    ['2', '5', /refused the message on "closed\/x": 0x87 Not Authorized/],
  ] as const) {
    it(`exits 1 with the reason when the broker refuses a QoS ${qos} message (MQTT ${version})`, async () => {
      const r = await cli(['pub', '-p', String(t.port()), '-V', version, '-q', qos, '-t', 'closed/x', '-m', 'no']);
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, expect);
      assert.equal(r.err.split('\n').length, 2, `one line: ${r.err}`);
      const ok = await cli(['pub', '-p', String(t.port()), '-V', version, '-q', qos, '-t', 'open/x', '-m', 'yes']);
      assert.equal(ok.code, 0, ok.err);
    });
  }

  it('exits 1 naming the DISCONNECT reason when the broker ends the connection mid-publish', async () => {
    const small = await startTestServer({ mqttMessageMaxLength: '1024' });
    try {
      const port = String(small.port());
      const v5 = await cli(['pub', '-p', port, '-q', '1', '-t', 'big', '-m', 'x'.repeat(3000)]);
      assert.equal(v5.code, 1);
      assert.match(v5.err, /the broker disconnected: DISCONNECT 0x95 Packet Too Large \(packet of \d+ bytes exceeds the maximum of 1024\)/);
      // MQTT 3.1.1 has no DISCONNECT from the server: the connection just closes.
      const v311 = await cli(['pub', '-p', port, '-V', '3.1.1', '-q', '1', '-t', 'big', '-m', 'x'.repeat(3000)]);
      assert.equal(v311.code, 1);
      assert.match(v311.err, /the broker closed the connection/);
    } finally {
      await small.close();
    }
  });

  it('MQTT 3.1.1 has no negative PUBACK: a refused QoS 1 message is acknowledged, exit 0 [MQTT-3.3.5-2]', async () => {
    // The broker either acknowledges or closes the connection; Starling acknowledges and drops it.
    const r = await cli(['pub', '-p', String(t.port()), '-V', 'mqttv311', '-q', '1', '-t', 'closed/x', '-m', 'no']);
    assert.equal(r.code, 0, r.err);
  });

  it('exits 1 with SUBACK 0x87 when a subscription is refused', async () => {
    const r = await cli(['sub', '-p', String(t.port()), '-t', 'closed/#', '-W', '5']);
    assert.equal(r.code, 1);
    assert.match(r.err, /refused the subscription to "closed\/#": SUBACK 0x87 Not Authorized\n$/);
  });

  it('takes -L URLs: mqtt://host:port/topic, and ws://host:port with /mqtt added', async () => {
    const port = String(t.port());
    const ws = t.port('ws');
    const sub = cli(['sub', '-L', `ws://127.0.0.1:${ws}`, '-t', 'open/url', '-C', '2', '-W', '10', '-v']);
    await subscribed(t, 'open/url');
    const a = await cli(['pub', '-L', `mqtt://127.0.0.1:${port}/open/url`, '-m', 'one', '-q', '1']);
    const b = await cli(['pub', '-L', `ws://127.0.0.1:${ws}/mqtt`, '-t', 'open/url', '-m', 'two', '-q', '1']);
    assert.equal(a.code, 0, a.err);
    assert.equal(b.code, 0, b.err);
    const s = await sub;
    assert.equal(s.code, 0, s.err);
    assert.equal(s.out, 'open/url one\nopen/url two\n');
  });

  it('prints -F format strings as mosquitto_sub does, and -N, -R', async () => {
    requireExecutable(SUB, 'mosquitto-clients');
    const port = String(t.port());
    const FORMAT = '%t|%p|%q|%r|%l|%x|%X|%%|%10t|%-6l|%05l|%3.3t\\t@@';
    assert.equal((await cli(['pub', '-p', port, '-t', 'open/fmt', '-m', 'Hi there?', '-q', '1', '-r'])).code, 0);
    const ours = await cli(['sub', '-p', port, '-t', 'open/fmt', '-q', '1', '-C', '1', '-W', '10', '-F', FORMAT]);
    const theirs = await run(SUB, ['-h', '127.0.0.1', '-p', port, '-t', 'open/fmt', '-q', '1', '-C', '1', '-W', '10', '-F', FORMAT], 15_000);
    assert.equal(theirs.code, 0, describeRun(theirs));
    assert.equal(ours.code, 0, ours.err);
    assert.equal(ours.out, theirs.stdout);
    const hex = Buffer.from('Hi there?').toString('hex');
    assert.equal(ours.out, `open/fmt|Hi there?|1|1|9|${hex}|${hex.toUpperCase()}|%|  open/fmt|9     |00009|ope\t@\n`);
    // -N: no newline; -v: topic and payload.
    const n = await cli(['sub', '-p', port, '-t', 'open/fmt', '-C', '1', '-W', '10', '-v', '-N']);
    assert.equal(n.out, 'open/fmt Hi there?');
    // -R: the retained message is stale and not printed, so -W ends the wait with exit 27 as mosquitto_sub does.
    const r = await cli(['sub', '-p', port, '-t', 'open/fmt', '-C', '1', '-W', '1', '-R']);
    assert.equal(r.out, '');
    assert.equal(r.code, 27);
    const bad = await cli(['sub', '-p', port, '-t', 'open/fmt', '-F', '%Q']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /unknown format specifier '%Q'/);
  });

  it('repeats with --repeat and --repeat-delay, and traces packets with -d', async () => {
    const port = String(t.port());
    const sub = cli(['sub', '-p', port, '-t', 'open/rep', '-q', '1', '-C', '3', '-W', '10', '-F', '%m %p']);
    await subscribed(t, 'open/rep');
    const p = await cli(['pub', '-p', port, '-t', 'open/rep', '-m', 'again', '-q', '1', '--repeat', '3', '--repeat-delay', '0.05', '-d', '-i', 'rep-client']);
    assert.equal(p.code, 0, p.err);
    assert.match(p.err, /Client rep-client sending CONNECT/);
    assert.match(p.err, /Client rep-client received CONNACK/);
    assert.equal(p.err.match(/sending PUBLISH \(d0, q1, r0, m\d+, 'open\/rep', \.\.\. \(5 bytes\)\)/g)?.length, 3, p.err);
    assert.equal(p.err.match(/received PUBACK/g)?.length, 3);
    const s = await sub;
    assert.equal(s.code, 0, s.err);
    assert.match(s.out, /^\d+ again\n\d+ again\n\d+ again\n$/);
  });

  it('-c keeps the session across connections (MQTT 5: no expiry unless -x), as mosquitto_sub -c', async () => {
    const port = String(t.port());
    const first = await cli(['sub', '-p', port, '-c', '-i', 'kept-cli', '-t', 'open/kept', '-q', '1', '-E']);
    assert.equal(first.code, 0, first.err);
    assert.equal((await cli(['pub', '-p', port, '-t', 'open/kept', '-m', 'while away', '-q', '1'])).code, 0);
    const again = await cli(['sub', '-p', port, '-c', '-i', 'kept-cli', '-t', 'open/kept', '-q', '1', '-C', '1', '-W', '10']);
    assert.equal(again.code, 0, again.err);
    assert.equal(again.out, 'while away\n');
  });

  it('explains a wrong transport for the port and TLS without a CA', async () => {
    const mqttToWs = await cli(['pub', '-p', String(t.port('ws')), '-t', 'open/x', '-m', 'y']);
    assert.equal(mqttToWs.code, 1);
    assert.match(mqttToWs.err, new RegExp(`127\\.0\\.0\\.1:${t.port('ws')} is a WebSocket listener \\(plain HTTP\\), not mqtt://; use -L ws://127\\.0\\.0\\.1:${t.port('ws')}`));
    const wsToMqtt = await cli(['pub', '-T', 'ws', '-p', String(t.port()), '-t', 'open/x', '-m', 'y']);
    assert.equal(wsToMqtt.code, 1);
    assert.match(wsToMqtt.err, /is a plain MQTT listener \(no TLS, no HTTP\), not ws:\/\/; use -L mqtt:\/\//);
    const wsToTls = await cli(['pub', '-T', 'ws', '-p', String(tls.port('ws+ssl')), '-t', 'x', '-m', 'y']);
    assert.equal(wsToTls.code, 1);
    assert.match(wsToTls.err, /is a secure WebSocket listener \(HTTPS\), not ws:\/\/; use -L wss:\/\//);
    const mqttToTls = await cli(['pub', '-p', String(tls.port('mqtt+ssl')), '-t', 'x', '-m', 'y']);
    assert.equal(mqttToTls.code, 1);
    assert.match(mqttToTls.err, /is an MQTT over TLS listener, not mqtt:\/\/; use -L mqtts:\/\//);
    for (const [transport, scheme] of [['mqtts', 'mqtt+ssl'], ['wss', 'ws+ssl']] as const) {
      const noCa = await cli(['pub', '-T', transport, '-p', String(tls.port(scheme)), '-t', 'x', '-m', 'y']);
      assert.equal(noCa.code, 1);
      assert.match(noCa.err, /not signed by a CA this client trusts; give the CA with --cafile/, `${transport}: ${noCa.err}`);
      const ok = await cli(['pub', '-T', transport, '-p', String(tls.port(scheme)), '--cafile', certs.a.caFile, '-t', 'x', '-m', 'y']);
      assert.equal(ok.code, 0, ok.err);
    }
  });
});
