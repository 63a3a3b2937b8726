// The default browser-origin policy as pure functions: the listener's own pages, pages served from
// this machine, file pages on loopback-only listeners, and what a refusal tells the operator.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { admitOrigin, describeOrigins, isLocalOrigin, isLoopbackHost, originAdvice } from '../../src/transport/ws-handshake.js';
import { OncePerWindow, clip } from '../../src/transport/log-limit.js';

const loopback = { allowed: [] as string[], listener: { secure: false, host: '127.0.0.1', port: 8083 }, localAddress: '127.0.0.1' };
const wildcard = { ...loopback, listener: { ...loopback.listener, host: '0.0.0.0' }, localAddress: '192.0.2.7' };

describe('browser origin policy', () => {
  it('admits pages served from this machine on any port: localhost, 127.0.0.0/8, [::1]', () => {
    for (const o of ['http://localhost:5173', 'http://127.0.0.1:5500', 'https://127.8.9.10', 'http://[::1]:3000', 'http://localhost', 'HTTP://LOCALHOST:1']) {
      assert.equal(isLocalOrigin(o), true, o);
      assert.equal(admitOrigin(o, wildcard), 'local', `${o} on a wildcard listener`);
    }
  });

  it('refuses look-alikes of local hosts', () => {
    for (const o of ['http://localhost.evil.example', 'http://127.0.0.1.nip.io', 'http://localhost@evil.example', 'http://128.0.0.1', 'http://[::2]', 'file://localhost', 'ws://localhost:1', 'http://evil.example']) {
      assert.equal(isLocalOrigin(o), false, o);
      assert.equal(admitOrigin(o, loopback), undefined, o);
    }
  });

  it('admits Origin null (a page opened from a file) only on listeners bound to a loopback address', () => {
    assert.equal(admitOrigin('null', loopback), 'file');
    assert.equal(admitOrigin('null', { ...loopback, listener: { ...loopback.listener, host: '::1' } }), 'file');
    assert.equal(admitOrigin('null', { ...loopback, listener: { ...loopback.listener, host: 'localhost' } }), 'file');
    assert.equal(admitOrigin('null', wildcard), undefined, 'a wildcard bind is reachable from other machines');
    assert.equal(admitOrigin('null', { ...loopback, listener: { ...loopback.listener, host: '192.0.2.7' } }), undefined);
  });

  it("keeps the listener's own origin, the listed ones, and clients without Origin", () => {
    assert.equal(admitOrigin(undefined, wildcard), 'no-origin');
    assert.equal(admitOrigin('http://192.0.2.7:8083', wildcard), 'own');
    assert.equal(admitOrigin('https://app.example.com', { ...wildcard, allowed: ['https://app.example.com'] }), 'listed');
    assert.equal(admitOrigin('https://app.example.com', wildcard), undefined);
    assert.equal(admitOrigin('null', { ...wildcard, allowed: ['*'] }), 'listed');
  });

  it('never admits a non-loopback origin by default (property)', () => {
    const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 3 }), fc.constantFrom('http', 'https'), fc.integer({ min: 1, max: 65535 }), (labels, scheme, port) => {
        const host = [...labels, 'example'].join('.');
        return admitOrigin(`${scheme}://${host}:${port}`, wildcard) === undefined && admitOrigin(`${scheme}://${host}:${port}`, loopback) === undefined;
      }),
    );
  });

  it('says what is admitted, file pages only where they are', () => {
    assert.deepEqual(describeOrigins([], '127.0.0.1'), ["this listener's own pages", 'http(s)://localhost, 127.0.0.0/8, [::1] (any port)', 'null (pages opened from files)']);
    assert.deepEqual(describeOrigins(['https://app.example.com'], '0.0.0.0'), ["this listener's own pages", 'http(s)://localhost, 127.0.0.0/8, [::1] (any port)', 'https://app.example.com']);
    assert.deepEqual(describeOrigins(['*'], '0.0.0.0'), ['* (any page on any site)']);
    assert.equal(isLoopbackHost('[::1]'), true);
    assert.equal(isLoopbackHost('0.0.0.0'), false);
  });

  it('a refusal names the exact configuration line, keeping what is already listed', () => {
    assert.deepEqual(originAdvice('https://App.Example.com', []).line, 'webSocketAllowedOrigins=https://app.example.com');
    assert.equal(originAdvice('https://b.example', ['https://a.example']).line, 'webSocketAllowedOrigins=https://a.example,https://b.example');
    assert.equal(originAdvice('null', []).line, undefined, 'null is never suggested: sandboxed frames of any site send it');
    assert.match(originAdvice('null', []).fix, /bind this listener to 127\.0\.0\.1/);
    assert.equal(originAdvice('https://a.example/path', []).line, undefined, 'not an origin');
    assert.equal(originAdvice('x'.repeat(50), []).line, undefined);
  });
});

describe('OncePerWindow (log lines a client can provoke)', () => {
  it('lets one line per key per window through and counts the ones held back', () => {
    const once = new OncePerWindow(60_000, 10, 100);
    assert.equal(once.take('a', 0), 0);
    assert.equal(once.take('a', 1000), undefined);
    assert.equal(once.take('a', 59_999), undefined);
    assert.equal(once.take('b', 2000), 0, 'another key is not held back');
    assert.equal(once.take('a', 60_000), 2, 'next window: the two held back are reported');
  });

  it('remembers at most maxKeys keys and writes at most maxLines lines per window', () => {
    const once = new OncePerWindow(60_000, 16, 50);
    let lines = 0;
    for (let i = 0; i < 10_000; i++) if (once.take(`origin-${i}`, 5) !== undefined) lines++;
    assert.equal(lines, 50);
    assert.ok(once.size <= 16, `size ${once.size}`);
    assert.equal(once.take('late', 60_005), 0, 'the next window writes again');
  });

  it('clips client-supplied text', () => {
    assert.equal(clip('abc', 5), 'abc');
    assert.equal(clip('x'.repeat(300)).length, 201);
  });
});
