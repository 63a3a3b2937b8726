// The one table of listener kinds (src/transport/kinds.ts): every spelling names one kind, the
// refused look-alikes name none, and what is derived from it (client schemes and ports, client URLs).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DIAL_PORTS, LISTENER_KINDS, LISTENER_SCHEMES, clientUrl, isTlsScheme, isWebSocketScheme, schemeNamed } from '../../src/transport/kinds.js';
import { parseListenerUrl } from '../../src/config/listener-url.js';

describe('listener kinds', () => {
  it('each scheme and alias names exactly its kind, in any case', () => {
    const seen = new Map<string, string>();
    for (const s of LISTENER_SCHEMES) {
      for (const name of [s, ...LISTENER_KINDS[s].aliases]) {
        assert.equal(seen.get(name), undefined, `${name} named twice`);
        seen.set(name, s);
        assert.equal(schemeNamed(name), s);
        assert.equal(schemeNamed(name.toUpperCase()), s);
      }
    }
    assert.equal(schemeNamed('constructor'), undefined, 'no inherited property is a scheme');
  });

  it('look-alikes are refused with the spelling the table gives', () => {
    for (const s of LISTENER_SCHEMES) {
      for (const [name, words] of Object.entries(LISTENER_KINDS[s].lookalikes as Record<string, string>)) {
        assert.equal(schemeNamed(name), undefined, `${name} is not accepted`);
        assert.throws(() => parseListenerUrl(`${name}://127.0.0.1:1`), (err: Error) => err.message.endsWith(`for ${words} write ${s}://)`));
      }
    }
  });

  it('a URL without a port gets the kind\'s usual one; client schemes and ports come from the same rows', () => {
    for (const s of LISTENER_SCHEMES) {
      const port = (LISTENER_KINDS[s] as { defaultPort?: number }).defaultPort;
      if (port === undefined) assert.throws(() => parseListenerUrl(`${s}://127.0.0.1`), /needs a port/);
      else assert.equal(parseListenerUrl(`${s}://127.0.0.1`).port, port);
    }
    assert.deepEqual(DIAL_PORTS, { mqtt: 1883, mqtts: 8883, ws: 8083, wss: 8084 });
    assert.equal(clientUrl({ scheme: 'mqtt+ssl+psk', host: '::', port: 8885 }), 'mqtts://[::1]:8885');
    assert.equal(clientUrl({ scheme: 'ws+ssl', host: 'h', port: 1, path: '/x' }), 'wss://h:1/x');
  });

  it('TLS and WebSocket kinds', () => {
    assert.deepEqual(LISTENER_SCHEMES.filter(isTlsScheme), ['mqtt+ssl', 'mqtt+ssl+psk', 'ws+ssl']);
    assert.deepEqual(LISTENER_SCHEMES.filter(isWebSocketScheme), ['ws', 'ws+ssl']);
  });
});
