import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MqttError } from '../../src/protocol/errors.js';
import { isSystemTopic, parseSharedFilter, validateTopicFilter, validateTopicName } from '../../src/protocol/topic.js';

function throwsCode(fn: () => unknown, code: number): void {
  assert.throws(fn, (e: unknown) => e instanceof MqttError && e.reasonCode === code);
}

describe('validateTopicName', () => {
  it('accepts plain, multi-level, $ and odd-but-legal names', () => {
    for (const t of ['a', 'a/b/c', '/', '//', '/a', 'a/', '$SYS/broker/uptime', 'sport/tennis player1', 'ü/€/😀']) {
      validateTopicName(t);
    }
  });
  it('rejects wildcards with 0x90 [MQTT-3.3.2-2]', () => {
    for (const t of ['+', '#', 'a/+', 'a/#', 'a+b', 'a#']) throwsCode(() => validateTopicName(t), 0x90);
  });
  it('rejects the empty name unless a topic alias stands for it [MQTT-4.7.3-1]', () => {
    throwsCode(() => validateTopicName(''), 0x90);
    validateTopicName('', true);
  });
});

describe('validateTopicFilter', () => {
  it('accepts legal filters [MQTT-4.7.1-2] [MQTT-4.7.1-3]', () => {
    for (const f of ['#', '+', 'a/#', 'a/+', '+/+', '+/#', '/#', '/+', '+/', 'a/+/c', 'sport/tennis/+', '$SYS/#', '//', 'a']) {
      validateTopicFilter(f);
    }
  });
  it('rejects # that is not alone or not last [MQTT-4.7.1-2]', () => {
    for (const f of ['a#', '#/a', 'a/#/b', 'a/b#', '##', '#+']) throwsCode(() => validateTopicFilter(f), 0x8f);
  });
  it('rejects + that is not alone in its level [MQTT-4.7.1-3]', () => {
    for (const f of ['a+', '+a', 'a/b+/c', '++', 'sport+']) throwsCode(() => validateTopicFilter(f), 0x8f);
  });
  it('rejects the empty filter [MQTT-4.7.3-1]', () => {
    throwsCode(() => validateTopicFilter(''), 0x8f);
  });
});

describe('parseSharedFilter', () => {
  it('returns undefined for ordinary filters, even ones that look close', () => {
    for (const f of ['a/b', '$share', '$sharex/g/a', '$SHARE/g/a', 'share/g/a', '$shar/g/a']) assert.equal(parseSharedFilter(f), undefined);
  });
  it('splits $share/{group}/{filter} [MQTT-4.8.2-1]', () => {
    assert.deepEqual(parseSharedFilter('$share/g/a/b'), { group: 'g', filter: 'a/b' });
    assert.deepEqual(parseSharedFilter('$share/consumers/#'), { group: 'consumers', filter: '#' });
    assert.deepEqual(parseSharedFilter('$share/g//'), { group: 'g', filter: '/' });
    assert.deepEqual(parseSharedFilter('$share/g/$SYS/+'), { group: 'g', filter: '$SYS/+' });
  });
  it('rejects a malformed shared filter with 0x8F [MQTT-4.8.2-1] [MQTT-4.8.2-2]', () => {
    for (const f of ['$share/', '$share//a', '$share/g', '$share/g/', '$share/+/a', '$share/#/a', '$share/g#/a', '$share/g/a/#/b', '$share/g/a+']) {
      throwsCode(() => parseSharedFilter(f), 0x8f);
    }
  });
});

describe('isSystemTopic', () => {
  it('is true exactly for topics starting with $ [MQTT-4.7.2-1]', () => {
    assert.equal(isSystemTopic('$SYS/x'), true);
    assert.equal(isSystemTopic('$'), true);
    assert.equal(isSystemTopic('a/$SYS'), false);
    assert.equal(isSystemTopic(''), false);
  });
});
