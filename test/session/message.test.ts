// What a message made from a PUBLISH keeps of the read buffer: a view only when the memory behind it
// is its own packet's, otherwise a copy (a small payload never pins a whole read chunk), so the
// bytes retained and queued messages hold are the bytes the budgets count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageIds, messageFromPublish } from '../../src/session/message.js';
import type { PublishPacket } from '../../src/protocol/packets.js';

const publish = (payload: Buffer, correlationData?: Buffer): PublishPacket => ({
  type: 'publish', topic: 't', payload, qos: 1, retain: true, dup: false, packetId: 1,
  ...(correlationData ? { properties: { correlationData } } : {}),
}) as PublishPacket;

test('a small payload cut from a large read chunk is copied: it does not pin the chunk', () => {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const m = messageFromPublish(new MessageIds(), publish(chunk.subarray(100, 110), chunk.subarray(200, 204)), 't', 'c', 0);
  assert.equal(m.payload.toString(), 'a'.repeat(10));
  assert.ok(m.payload.buffer.byteLength < 16 * 1024, `payload backed by ${m.payload.buffer.byteLength} bytes`);
  assert.notEqual(m.payload.buffer, chunk.buffer);
  assert.notEqual(m.properties?.correlationData?.buffer, chunk.buffer, 'Correlation Data is not a view of the chunk either');
});

test('a payload that fills its own packet buffer is kept as it is, not copied a second time', () => {
  const body = Buffer.allocUnsafeSlow(900 * 1024).fill(0x72);
  const payload = body.subarray(20);
  const m = messageFromPublish(new MessageIds(), publish(payload), 't', 'c', 0);
  assert.equal(m.payload, payload);
});

test('a QoS 0 message that is not retained lives one turn: its payload stays a view', () => {
  const chunk = Buffer.alloc(64 * 1024);
  const payload = chunk.subarray(10, 20);
  const m = messageFromPublish(new MessageIds(), { ...publish(payload), qos: 0, retain: false } as PublishPacket, 't', 'c', 0);
  assert.equal(m.payload, payload);
});
