import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chooseSubprotocol, isOwnOrigin, offeredSubprotocols, originAllowed } from '../../src/transport/ws-handshake.js';
import { classifyFirstBytes, adviceFor, spokenFromTlsError } from '../../src/transport/mistakes.js';
import type { ListenerInfo } from '../../src/transport/transport.js';
import { CONNECT_BYTES } from './helpers.js';

describe('WebSocket handshake rules', () => {
  it('parses Sec-WebSocket-Protocol lists, also repeated headers', () => {
    assert.deepEqual(offeredSubprotocols('mqtt, mqttv3.1'), ['mqtt', 'mqttv3.1']);
    assert.deepEqual(offeredSubprotocols(['mqtt', 'x']), ['mqtt', 'x']);
    assert.deepEqual(offeredSubprotocols(undefined), []);
    assert.deepEqual(offeredSubprotocols(' , '), []);
  });

  it('chooses mqtt when offered [MQTT-6.0.0-4], else the first known one, none for none, refuses unknown-only', () => {
    assert.deepEqual(chooseSubprotocol(['mqttv5.0', 'mqtt']), { ok: true, protocol: 'mqtt' });
    assert.deepEqual(chooseSubprotocol(['x', 'mqttv3.1.1', 'mqttv3.1']), { ok: true, protocol: 'mqttv3.1.1' });
    assert.deepEqual(chooseSubprotocol([]), { ok: true });
    assert.deepEqual(chooseSubprotocol(['MQTT']), { ok: false, offered: ['MQTT'] }, 'subprotocol names are case-sensitive');
  });

  it('matches origins exactly or by *. subdomain pattern, with the port', () => {
    const allowed = ['https://app.example.com', 'https://*.example.org', 'http://localhost:5173'];
    assert.equal(originAllowed('https://app.example.com', allowed), true);
    assert.equal(originAllowed('HTTPS://APP.EXAMPLE.COM', allowed), true);
    assert.equal(originAllowed('https://a.b.example.org', allowed), true);
    assert.equal(originAllowed('https://example.org', allowed), false, '*. needs a subdomain');
    assert.equal(originAllowed('http://a.example.org', allowed), false, 'scheme must match');
    assert.equal(originAllowed('https://evilexample.org', allowed), false);
    assert.equal(originAllowed('http://localhost:5173', allowed), true);
    assert.equal(originAllowed('http://localhost:5174', allowed), false);
    assert.equal(originAllowed('null', allowed), false);
    assert.equal(originAllowed(undefined, allowed), true, 'non-browser clients send no Origin');
    assert.equal(originAllowed('https://any.where', ['*']), true);
    assert.equal(originAllowed('https://any.where', []), false, 'an empty list admits no browser page');
    assert.equal(originAllowed(undefined, []), true, 'but still every client without Origin');
  });

  it("recognises the listener's own origin by its bind host or the connection's local address, never by Host", () => {
    const wildcard = { secure: false, host: '0.0.0.0', port: 8083 };
    assert.equal(isOwnOrigin('http://192.0.2.7:8083', wildcard, '192.0.2.7'), true);
    assert.equal(isOwnOrigin('http://192.0.2.7:8083', wildcard, '::ffff:192.0.2.7'), true, 'IPv4-mapped local address');
    assert.equal(isOwnOrigin('http://localhost:8083', wildcard, '127.0.0.1'), true);
    assert.equal(isOwnOrigin('http://localhost:8083', wildcard, '192.0.2.7'), false, 'localhost only on a loopback address');
    assert.equal(isOwnOrigin('http://[::1]:8083', { ...wildcard, host: '::' }, '::1'), true);
    assert.equal(isOwnOrigin('http://evil.example:8083', wildcard, '127.0.0.1'), false, 'a rebound DNS name is not ours');
    assert.equal(isOwnOrigin('http://192.0.2.7:8084', wildcard, '192.0.2.7'), false, 'another port');
    assert.equal(isOwnOrigin('https://192.0.2.7:8083', wildcard, '192.0.2.7'), false, 'another scheme');
    assert.equal(isOwnOrigin('http://broker.example.com', { secure: false, host: 'broker.example.com', port: 80 }, '192.0.2.7'), true, 'default port');
    assert.equal(isOwnOrigin('https://broker.example.com:8084', { secure: true, host: 'broker.example.com', port: 8084 }, '192.0.2.7'), true);
    assert.equal(isOwnOrigin('null', wildcard, '127.0.0.1'), false);
  });
});

describe('first-bytes classification', () => {
  it('recognises MQTT CONNECT, TLS records and HTTP methods', () => {
    assert.deepEqual(classifyFirstBytes(CONNECT_BYTES, true), { verdict: 'mqtt' });
    assert.deepEqual(classifyFirstBytes(Buffer.from([0x16, 0x03, 0x01]), true), { verdict: 'tls' });
    assert.deepEqual(classifyFirstBytes(Buffer.from([0x16, 0x03, 0x01]), false), { verdict: 'mqtt' }, 'inside TLS, 0x16 is left to the codec');
    assert.deepEqual(classifyFirstBytes(Buffer.from('GET / HTTP/1.1\r\n'), true), { verdict: 'http', websocket: false });
    assert.deepEqual(classifyFirstBytes(Buffer.from('GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'), true), { verdict: 'http', websocket: true });
    assert.deepEqual(classifyFirstBytes(Buffer.from('PRI * HTTP/2.0'), true), { verdict: 'http', websocket: false });
  });

  it('waits for more bytes only while an HTTP method could still be forming', () => {
    assert.deepEqual(classifyFirstBytes(Buffer.alloc(0), true), { verdict: 'wait' });
    assert.deepEqual(classifyFirstBytes(Buffer.from('GE'), true), { verdict: 'wait' });
    assert.deepEqual(classifyFirstBytes(Buffer.from('OPTIONS'), true), { verdict: 'wait' });
    assert.deepEqual(classifyFirstBytes(Buffer.from('GETX / x'), true), { verdict: 'mqtt' });
    assert.deepEqual(classifyFirstBytes(Buffer.from([0x10]), true), { verdict: 'mqtt' });
    // PUBREC: 'P' then a byte no method continues with [MQTT-3.1.0-1].
    assert.deepEqual(classifyFirstBytes(Buffer.from([0x50, 0x02, 0x00, 0x01]), true), { verdict: 'mqtt' });
    assert.deepEqual(classifyFirstBytes(Buffer.from('PO'), true), { verdict: 'wait' });
  });

  it('maps TLS parser errors of non-TLS clients', () => {
    assert.equal(spokenFromTlsError('ERR_SSL_HTTP_REQUEST'), 'http');
    assert.equal(spokenFromTlsError('ERR_SSL_WRONG_VERSION_NUMBER'), 'plain');
    assert.equal(spokenFromTlsError('ECONNRESET'), undefined);
  });

  it('advice says so when no listener of the right kind is configured', () => {
    const here: ListenerInfo = { url: 'mqtt://0.0.0.0:1883', scheme: 'mqtt', host: '0.0.0.0', port: 1883 };
    const msg = adviceFor(here, 'tls', [here], '/mqtt');
    assert.match(msg, /^TLS handshake on plain mqtt listener mqtt:\/\/0\.0\.0\.0:1883: TLS clients should use mqtt\+ssl:\/\/ \(no such listener is configured; add one to mqttListeners for TLS\), or connect without TLS to mqtt:\/\/127\.0\.0\.1:1883$/);
  });
});
