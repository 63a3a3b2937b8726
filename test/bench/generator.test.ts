// The load generator's own pieces: the latency histogram, the wire scanner (against packets
// encoded by mqtt-packet, not by our codec), and the command-line options.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { Histogram } from '../../bench/gen/histogram.js';
import { WireScanner, connectPacket, publishTemplate, stamp, type WireHandler } from '../../bench/gen/wire.js';
import { parseBenchArgs } from '../../bench/main.js';

describe('latency histogram', () => {
  it('reports exact percentiles for small values', () => {
    const h = new Histogram();
    for (let v = 1; v <= 100; v++) h.record(v);
    assert.equal(h.count, 100);
    assert.equal(h.percentile(50), 50);
    assert.equal(h.percentile(99), 99);
    assert.equal(h.percentile(100), 100);
  });

  it('keeps large values within 2 % and merges across processes', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 0; i < 1000; i++) a.record(10_000 + i);
    b.record(5_000_000);
    a.merge(b.toData());
    assert.equal(a.count, 1001);
    const p50 = a.percentile(50);
    assert.ok(Math.abs(p50 - 10_500) / 10_500 < 0.02, `p50 ${p50}`);
    assert.equal(a.percentile(100), 5_000_000);
    assert.equal(a.max, 5_000_000);
  });

  it('is empty after reset', () => {
    const h = new Histogram();
    h.record(42);
    h.reset();
    assert.equal(h.count, 0);
    assert.equal(h.percentile(99), 0);
  });
});

class Recorder implements WireHandler {
  events: string[] = [];
  payloads: Buffer[] = [];
  connack(sp: boolean, code: number): void {
    this.events.push(`connack ${sp} ${code}`);
  }
  suback(id: number, granted: number): void {
    this.events.push(`suback ${id} ${granted}`);
  }
  publish(buf: Buffer, at: number, len: number, qos: number, id: number): void {
    this.events.push(`publish q${qos} id${id} len${len}`);
    this.payloads.push(Buffer.from(buf.subarray(at, at + len)));
  }
  puback(id: number): void {
    this.events.push(`puback ${id}`);
  }
  pingresp(): void {
    this.events.push('pingresp');
  }
}

describe('wire scanner', () => {
  const gen = (p: object): Buffer => mqttPacket.generate(p as mqttPacket.Packet);
  const stream = Buffer.concat([
    gen({ cmd: 'connack', sessionPresent: true, returnCode: 0 }),
    gen({ cmd: 'suback', messageId: 7, granted: [1] }),
    gen({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(200, 1), qos: 1, messageId: 300, retain: false, dup: false }),
    gen({ cmd: 'publish', topic: 'c', payload: Buffer.from('xyz'), qos: 0, retain: false, dup: false }),
    gen({ cmd: 'puback', messageId: 9 }),
    gen({ cmd: 'pingresp' }),
  ]);
  const expected = ['connack true 0', 'suback 7 1', 'publish q1 id300 len200', 'publish q0 id0 len3', 'puback 9', 'pingresp'];

  it('dispatches every packet of a stream', () => {
    const r = new Recorder();
    new WireScanner(r).push(stream);
    assert.deepEqual(r.events, expected);
    assert.deepEqual(r.payloads[1], Buffer.from('xyz'));
  });

  it('gives the same result split at every byte boundary', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const r = new Recorder();
      const s = new WireScanner(r);
      s.push(stream.subarray(0, cut));
      s.push(stream.subarray(cut));
      assert.deepEqual(r.events, expected, `cut at ${cut}`);
    }
  });

  it('reads back a stamped template as mqtt-packet decodes it', () => {
    const t = publishTemplate('bench/in/3', 1, 64);
    const buf = Buffer.from(t.bytes);
    stamp(buf, t, 0, 12, 345, 3, 77, 513);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let got: mqttPacket.IPublishPacket | undefined;
    parser.on('packet', (p) => (got = p as mqttPacket.IPublishPacket));
    parser.parse(buf);
    assert.equal(got?.topic, 'bench/in/3');
    assert.equal(got?.messageId, 513);
    const payload = got!.payload as Buffer;
    assert.equal(payload.length, 64);
    assert.deepEqual([payload.readUInt32BE(0), payload.readUInt32BE(4), payload.readUInt32BE(8), payload.readUInt32BE(12)], [12, 345, 3, 77]);
  });

  it('speaks MQTT 5: skips the properties of PUBLISH and SUBACK, and stamps a v5 template where mqtt-packet reads it', () => {
    const gen5 = (p: object): Buffer => mqttPacket.generate(p as mqttPacket.Packet, { protocolVersion: 5 });
    const stream5 = Buffer.concat([
      gen5({ cmd: 'connack', sessionPresent: true, reasonCode: 0, properties: { receiveMaximum: 10 } }),
      gen5({ cmd: 'suback', messageId: 7, granted: [1], properties: { reasonString: 'fine' } }),
      gen5({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(200, 1), qos: 1, messageId: 300, retain: false, dup: false, properties: { userProperties: { k: 'v' }, subscriptionIdentifier: 300 } }),
      gen5({ cmd: 'publish', topic: 'c', payload: Buffer.from('xyz'), qos: 0, retain: false, dup: false }),
      gen5({ cmd: 'puback', messageId: 9, reasonCode: 16 }),
    ]);
    for (let cut = 1; cut < stream5.length; cut += 7) {
      const r = new Recorder();
      const s = new WireScanner(r, true);
      s.push(stream5.subarray(0, cut));
      s.push(stream5.subarray(cut));
      assert.deepEqual(r.events, ['connack true 0', 'suback 7 1', 'publish q1 id300 len200', 'publish q0 id0 len3', 'puback 9'], `cut at ${cut}`);
      assert.deepEqual(r.payloads[1], Buffer.from('xyz'));
    }
    const t = publishTemplate('bench/in/3', 1, 64, 5);
    const buf = Buffer.from(t.bytes);
    stamp(buf, t, 0, 12, 345, 3, 77, 513);
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const got: mqttPacket.Packet[] = [];
    parser.on('packet', (p) => got.push(p));
    parser.parse(Buffer.concat([connectPacket('c5', false, 60, 5), buf]));
    const connect = got[0] as mqttPacket.IConnectPacket;
    assert.equal(connect.protocolVersion, 5);
    assert.equal(connect.properties?.sessionExpiryInterval, 0xffffffff, 'a persistent MQTT 5 session that never expires [MQTT-3.1.2-23]');
    const pub = got[1] as mqttPacket.IPublishPacket;
    assert.equal(pub.messageId, 513);
    assert.deepEqual((pub.payload as Buffer).subarray(0, 16), Buffer.from([0, 0, 0, 12, 0, 0, 1, 89, 0, 0, 0, 3, 0, 0, 0, 77]));
  });
});

describe('bench options', () => {
  it('defaults to every scenario, broker and transport', () => {
    const o = parseBenchArgs([]);
    assert.deepEqual(o.scenarios, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(o.brokers, ['starling', 'starling-cluster', 'mosquitto', 'aedes']);
    assert.deepEqual(o.transports, ['tcp', 'ws']);
  });

  it('parses lists, repeats and --flag=value', () => {
    const o = parseBenchArgs(['--quick', '--scenario', '1,3', '--scenario=5', '--broker', 'Starling', '--transport=ws', '--seconds', '2']);
    assert.equal(o.quick, true);
    assert.deepEqual(o.scenarios, [1, 3, 5]);
    assert.deepEqual(o.brokers, ['starling']);
    assert.deepEqual(o.transports, ['ws']);
    assert.equal(o.seconds, 2);
  });

  it('refuses unknown options and values', () => {
    assert.throws(() => parseBenchArgs(['--scenario', '9']), /no scenario "9"/);
    assert.throws(() => parseBenchArgs(['--broker', 'emqx']), /unknown broker/);
    assert.throws(() => parseBenchArgs(['--fast']), /unknown option/);
    assert.throws(() => parseBenchArgs(['--seconds']), /needs a value/);
  });
});
