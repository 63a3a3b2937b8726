// Interop with Eclipse Paho's Python client (Debian python3-paho-mqtt, run with /usr/bin/python3):
// small inline scripts publish and subscribe against Starling at QoS 0/1/2 with retain, over MQTT
// 3.1, 3.1.1 and 5.0. Works with paho-mqtt 1.x and 2.x (2.x is asked for the 1.x callback API).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Child, describeRun, requirePythonModule, run } from '../helpers/cli-clients.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const PYTHON = '/usr/bin/python3';
const PACKAGE = 'python3-paho-mqtt';

/** Shared by both scripts: builds a client for the version asked, with either paho API. */
const PRELUDE = `
import json, sys, time
import paho.mqtt.client as mqtt
cfg = json.loads(sys.argv[1])
VERSIONS = {'3.1': mqtt.MQTTv31, '3.1.1': mqtt.MQTTv311, '5': mqtt.MQTTv5}
proto = VERSIONS[cfg['version']]
kw = dict(client_id=cfg.get('id', ''), protocol=proto)
if proto != mqtt.MQTTv5:
    kw['clean_session'] = cfg.get('clean', True)
if hasattr(mqtt, 'CallbackAPIVersion'):  # paho-mqtt 2.x
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, **kw)
else:
    client = mqtt.Client(**kw)
connect_kw = {}
if proto == mqtt.MQTTv5:
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes
    connect_kw['clean_start'] = cfg.get('clean', True)
    if cfg.get('sessionExpiry'):
        cp = Properties(PacketTypes.CONNECT)
        cp.SessionExpiryInterval = cfg['sessionExpiry']
        connect_kw['properties'] = cp
def out(obj):
    print(json.dumps(obj), flush=True)
def code(rc):
    return getattr(rc, 'value', rc)
`;

/** Subscribes, prints `suback` and one JSON line per message, exits after `count` or `seconds`. */
const SUBSCRIBER = `${PRELUDE}
got = []
state = {'done': False}
def on_connect(c, userdata, flags, rc, *rest):
    out({'event': 'connack', 'rc': code(rc), 'sessionPresent': bool(flags.get('session present'))})
    c.subscribe(cfg['filter'], qos=cfg.get('qos', 2))
def on_subscribe(c, userdata, mid, granted, *rest):
    out({'event': 'suback', 'granted': [code(g) for g in granted]})
    if cfg['count'] == 0:
        state['done'] = True
def on_message(c, userdata, m):
    entry = {'event': 'message', 'topic': m.topic, 'payload': m.payload.decode('utf-8', 'replace'), 'qos': m.qos, 'retain': bool(m.retain)}
    props = getattr(m, 'properties', None)
    if props is not None and hasattr(props, 'UserProperty'):
        entry['userProperties'] = [list(p) for p in props.UserProperty]
    out(entry)
    got.append(entry)
    if len(got) >= cfg['count']:
        state['done'] = True
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect('127.0.0.1', cfg['port'], 30, **connect_kw)
deadline = time.time() + cfg['seconds']
while time.time() < deadline and not state['done']:
    client.loop(0.05)
# Let the last acknowledgements out, then leave with a DISCONNECT.
settle = time.time() + 0.2
while time.time() < settle:
    client.loop(0.05)
client.disconnect()
client.loop(0.05)
out({'event': 'end', 'received': len(got)})
sys.exit(0 if state['done'] else 3)
`;

/** Publishes the messages in cfg['messages'], waiting for each to complete, then disconnects. */
const PUBLISHER = `${PRELUDE}
client.connect('127.0.0.1', cfg['port'], 30, **connect_kw)
client.loop_start()
for m in cfg['messages']:
    kwargs = {}
    if proto == mqtt.MQTTv5 and m.get('userProperties'):
        pp = Properties(PacketTypes.PUBLISH)
        pp.UserProperty = [tuple(p) for p in m['userProperties']]
        kwargs['properties'] = pp
    info = client.publish(m['topic'], m.get('payload'), qos=m.get('qos', 0), retain=m.get('retain', False), **kwargs)
    info.wait_for_publish(5)
    if not info.is_published():
        out({'event': 'error', 'topic': m['topic']})
        sys.exit(4)
client.disconnect()
client.loop_stop()
out({'event': 'published', 'count': len(cfg['messages'])})
`;

interface Message {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  userProperties?: string[][];
}

function events(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const messages = (stdout: string): Message[] => events(stdout).filter((e) => e.event === 'message') as unknown as Message[];

let seq = 0;
const unique = (s: string): string => `${s}-${process.pid}-${++seq}`;

describe('Eclipse Paho Python client', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer();
    port = t.port();
  });
  after(() => t?.close());

  /** Starts a subscriber script and resolves once its SUBACK arrived. */
  async function subscriber(cfg: Record<string, unknown>): Promise<Child> {
    const seconds = (cfg.seconds as number | undefined) ?? 10;
    const sub = new Child(PYTHON, ['-c', SUBSCRIBER, JSON.stringify({ port, seconds, qos: 2, ...cfg })], (seconds + 5) * 1000);
    await sub.waitFor(/"event": "suback"/, 10_000);
    return sub;
  }

  async function publish(version: string, msgs: Array<Partial<Message> & { topic: string }>, extra: Record<string, unknown> = {}): Promise<void> {
    const r = await run(PYTHON, ['-c', PUBLISHER, JSON.stringify({ port, version, messages: msgs, ...extra })], 15_000);
    assert.equal(r.code, 0, `paho publisher failed: ${describeRun(r)}`);
  }

  for (const version of ['3.1.1', '5']) {
    it(`MQTT ${version}: QoS 0, 1 and 2 messages from a paho publisher reach a paho subscriber at their QoS`, async () => {
      requirePythonModule(PYTHON, 'paho.mqtt.client', PACKAGE);
      const root = unique(`paho/${version}`);
      const sub = await subscriber({ version, filter: `${root}/#`, count: 3 });
      await publish(
        version,
        [0, 1, 2].map((qos) => ({ topic: `${root}/q${qos}`, payload: `payload ${qos}`, qos })),
      );
      const r = await sub.done;
      assert.equal(r.code, 0, describeRun(r));
      assert.deepEqual(
        messages(r.stdout).map((m) => [m.topic, m.qos, m.retain, m.payload]),
        [0, 1, 2].map((q) => [`${root}/q${q}`, q, false, `payload ${q}`]),
      );
    });

    it(`MQTT ${version}: a retained message reaches a later paho subscriber with retain set, and an empty retained message clears it`, async () => {
      requirePythonModule(PYTHON, 'paho.mqtt.client', PACKAGE);
      const topic = unique(`pahor/${version}`);
      await publish(version, [{ topic, payload: 'kept', qos: 1, retain: true }]);
      const late = await subscriber({ version, filter: topic, count: 1, seconds: 5 });
      const r = await late.done;
      assert.equal(r.code, 0, describeRun(r));
      assert.deepEqual(messages(r.stdout), [{ event: 'message', topic, payload: 'kept', qos: 1, retain: true }]);
      await publish(version, [{ topic, payload: '', qos: 1, retain: true }]);
      const none = await subscriber({ version, filter: topic, count: 1, seconds: 1 });
      const n = await none.done;
      assert.deepEqual(messages(n.stdout), [], 'nothing retained any more');
    });

    it(`MQTT ${version}: a persistent session keeps QoS 1 and 2 messages published while the paho subscriber was away`, async () => {
      requirePythonModule(PYTHON, 'paho.mqtt.client', PACKAGE);
      const id = unique(`pahoc${version === '5' ? '5' : '4'}`);
      const topic = unique(`pahoc/${version}`);
      const session = { id, clean: false, sessionExpiry: 300 };
      const first = await subscriber({ version, filter: topic, count: 0, seconds: 3, ...session });
      const f = await first.done;
      assert.equal(f.code, 0, describeRun(f));
      await publish(version, [
        { topic, payload: 'away 1', qos: 1 },
        { topic, payload: 'away 2', qos: 2 },
      ]);
      const again = await subscriber({ version, filter: topic, count: 2, seconds: 5, ...session });
      const r = await again.done;
      assert.equal(r.code, 0, describeRun(r));
      const connack = events(r.stdout).find((e) => e.event === 'connack');
      assert.equal(connack?.sessionPresent, true);
      assert.deepEqual(messages(r.stdout).map((m) => [m.payload, m.qos]), [
        ['away 1', 1],
        ['away 2', 2],
      ]);
    });
  }

  it('MQTT 5: User Properties from a paho publisher reach a paho subscriber in order', async () => {
    requirePythonModule(PYTHON, 'paho.mqtt.client', PACKAGE);
    const topic = unique('pahoup');
    const sub = await subscriber({ version: '5', filter: topic, count: 1 });
    const userProperties = [
      ['b', '2'],
      ['a', '1'],
      ['b', '3'],
    ];
    await publish('5', [{ topic, payload: 'with properties', qos: 1, userProperties }]);
    const r = await sub.done;
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(messages(r.stdout)[0]?.userProperties, userProperties);
  });

  it('MQTT 3.1 (MQIsdp): paho publishes and subscribes at QoS 1 and 2', async () => {
    requirePythonModule(PYTHON, 'paho.mqtt.client', PACKAGE);
    const topic = unique('paho31');
    const sub = await subscriber({ version: '3.1', id: 'paho31-sub', filter: topic, count: 2 });
    await publish('3.1', [
      { topic, payload: 'one', qos: 1 },
      { topic, payload: 'two', qos: 2 },
    ], { id: 'paho31-pub' });
    const r = await sub.done;
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(messages(r.stdout).map((m) => [m.payload, m.qos]), [
      ['one', 1],
      ['two', 2],
    ]);
  });
});
