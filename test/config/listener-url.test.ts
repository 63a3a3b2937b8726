import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseListenerUrl } from '../../src/config/listener-url.js';
import { clientUrl } from '../../src/transport/kinds.js';

describe('parseListenerUrl', () => {
  it('parses the four schemes of the quickstart line', () => {
    assert.deepEqual(parseListenerUrl('mqtt://127.0.0.1:1883'), { scheme: 'mqtt', host: '127.0.0.1', port: 1883 });
    assert.deepEqual(parseListenerUrl('mqtt+ssl://127.0.0.1:8883'), { scheme: 'mqtt+ssl', host: '127.0.0.1', port: 8883 });
    assert.deepEqual(parseListenerUrl('ws://127.0.0.1:8083'), { scheme: 'ws', host: '127.0.0.1', port: 8083 });
    assert.deepEqual(parseListenerUrl('ws+ssl://127.0.0.1:8084'), { scheme: 'ws+ssl', host: '127.0.0.1', port: 8084 });
  });

  it('takes the aliases mqtts, wss and the PSK scheme, case-insensitively', () => {
    assert.equal(parseListenerUrl('mqtts://h:1').scheme, 'mqtt+ssl');
    assert.equal(parseListenerUrl('WSS://h:1').scheme, 'ws+ssl');
    assert.deepEqual(parseListenerUrl('mqtt+ssl+psk://0.0.0.0:8885'), { scheme: 'mqtt+ssl+psk', host: '0.0.0.0', port: 8885 });
  });

  it('accepts 0.0.0.0, bracketed IPv6, names, port 0, surrounding spaces', () => {
    assert.deepEqual(parseListenerUrl('  mqtt://0.0.0.0:0 '), { scheme: 'mqtt', host: '0.0.0.0', port: 0 });
    assert.deepEqual(parseListenerUrl('ws://[::1]:8083'), { scheme: 'ws', host: '::1', port: 8083 });
    assert.deepEqual(parseListenerUrl('ws://[::]:8083'), { scheme: 'ws', host: '::', port: 8083 });
    assert.deepEqual(parseListenerUrl('mqtt://broker.example.com:1883'), { scheme: 'mqtt', host: 'broker.example.com', port: 1883 });
    assert.deepEqual(parseListenerUrl('mqtt://localhost:1883/'), { scheme: 'mqtt', host: 'localhost', port: 1883 }, 'a lone / is no path');
  });

  it('fills in the usual port when none is given, except for PSK', () => {
    assert.equal(parseListenerUrl('mqtt://h').port, 1883);
    assert.equal(parseListenerUrl('mqtts://h').port, 8883);
    assert.equal(parseListenerUrl('ws://h').port, 8083);
    assert.equal(parseListenerUrl('wss://h').port, 8084);
    assert.throws(() => parseListenerUrl('mqtt+ssl+psk://h'), /needs a port/);
  });

  it('keeps a WebSocket path and refuses one on MQTT-over-TCP', () => {
    assert.deepEqual(parseListenerUrl('ws://0.0.0.0:8083/mqtt'), { scheme: 'ws', host: '0.0.0.0', port: 8083, path: '/mqtt' });
    assert.throws(() => parseListenerUrl('mqtt://h:1883/mqtt'), /only ws:\/\/ and ws\+ssl:\/\/ listeners take a path/);
  });

  it('refuses tcp:// and friends with the spelling to use', () => {
    assert.throws(() => parseListenerUrl('tcp://127.0.0.1:1883'), {
      message: 'unknown scheme "tcp" (use mqtt://, mqtt+ssl://, ws://, ws+ssl://; for plain MQTT write mqtt://)',
    });
    assert.throws(() => parseListenerUrl('ssl://h:1'), /for MQTT over TLS write mqtt\+ssl:\/\//);
    assert.throws(() => parseListenerUrl('https://h:1'), /write ws\+ssl:\/\//);
    assert.throws(() => parseListenerUrl('foo://h:1'), /^Error: unknown scheme "foo" \(use mqtt:\/\/, mqtt\+ssl:\/\/, ws:\/\/, ws\+ssl:\/\/\)$/);
  });

  it('refuses malformed hosts, ports and URLs', () => {
    assert.throws(() => parseListenerUrl('127.0.0.1:1883'), /has no scheme/);
    assert.throws(() => parseListenerUrl('mqtt://:1883'), /has no host/);
    assert.throws(() => parseListenerUrl('mqtt://h:65536'), /port "65536" is not 0\.\.65535/);
    assert.throws(() => parseListenerUrl('mqtt://h:http'), /port "http"/);
    assert.throws(() => parseListenerUrl('mqtt://::1:1883'), /not a listener URL|IPv6|host/);
    assert.throws(() => parseListenerUrl('mqtt://[nope]:1883'), /not an IPv6 address/);
    assert.throws(() => parseListenerUrl('mqtt://bad_host:1883'), /not a host name/);
  });
});

describe('clientUrl', () => {
  it('is what a client types, with wildcard binds turned into loopback', () => {
    assert.equal(clientUrl({ scheme: 'mqtt', host: '0.0.0.0', port: 1883 }), 'mqtt://127.0.0.1:1883');
    assert.equal(clientUrl({ scheme: 'mqtt+ssl', host: '::', port: 8883 }), 'mqtts://[::1]:8883');
    assert.equal(clientUrl({ scheme: 'mqtt+ssl+psk', host: 'h', port: 1 }), 'mqtts://h:1');
    assert.equal(clientUrl({ scheme: 'ws', host: '127.0.0.1', port: 8083 }), 'ws://127.0.0.1:8083/mqtt');
    assert.equal(clientUrl({ scheme: 'ws+ssl', host: 'h', port: 8084, path: '/x' }), 'wss://h:8084/x');
    assert.equal(clientUrl({ scheme: 'ws', host: 'h', port: 1 }, '/custom'), 'ws://h:1/custom');
  });
});
