// "Common mistakes": a client speaking the wrong thing to a listener (TLS to a plain port, plain
// bytes to a TLS port, raw MQTT to a WebSocket port, HTTP to an MQTT port). The broker recognises
// them from the first bytes or the TLS/HTTP parser's error and logs ONE line that names the
// listener and the URL that would have worked, instead of a bare "malformed packet".
import { clientUrl } from './kinds.js';
import type { ListenerInfo, ListenerScheme } from './transport.js';

/** What the client turned out to speak. */
export type Spoken = 'tls' | 'plain' | 'mqtt' | 'http' | 'websocket';

export type FirstBytes =
  | { verdict: 'mqtt' }
  | { verdict: 'wait' }
  | { verdict: 'tls' }
  | { verdict: 'http'; websocket: boolean };

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'OPTIONS', 'DELETE', 'PATCH', 'CONNECT', 'TRACE', 'PRI'];
const HTTP_METHOD = new RegExp(`^(${HTTP_METHODS.join('|')}) `);
/** Longest method plus its space: deciding never needs more bytes than this. */
const METHOD_BYTES = 8;

/**
 * Classifies the first bytes of a plain (or decrypted) stream. An MQTT stream starts with CONNECT,
 * 0x10 [MQTT-3.1.0-1]; 0x16 0x03 is a TLS handshake record; an ASCII method and a space is HTTP.
 * Anything else goes to the MQTT codec, which has the final word.
 */
export function classifyFirstBytes(buf: Buffer, detectTls: boolean): FirstBytes {
  if (buf.length === 0) return { verdict: 'wait' };
  const first = buf[0];
  if (detectTls && first === 0x16 && (buf.length < 2 || buf[1] === 0x03)) return { verdict: 'tls' };
  if (first >= 0x41 && first <= 0x5a) {
    const head = buf.subarray(0, METHOD_BYTES).toString('latin1');
    if (HTTP_METHOD.test(head)) {
      return { verdict: 'http', websocket: /\r\nupgrade:[ \t]*websocket/i.test(buf.subarray(0, 8192).toString('latin1')) };
    }
    // Wait for more only while the bytes can still become a method: 0x50 0x02 is a PUBREC (0x41-0x5A
    // are also PUBACK/PUBREC first bytes), which must reach the codec and close the connection
    // [MQTT-3.1.0-1] rather than sit here until the connect timeout.
    if (buf.length < METHOD_BYTES && HTTP_METHODS.some((m) => `${m} `.startsWith(head))) return { verdict: 'wait' };
  }
  return { verdict: 'mqtt' };
}

/** TLS server error codes that mean "the client did not speak TLS at all". */
export function spokenFromTlsError(code: string | undefined): Spoken | undefined {
  if (code === 'ERR_SSL_HTTP_REQUEST' || code === 'ERR_SSL_HTTPS_PROXY_REQUEST') return 'http';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') return 'plain';
  return undefined;
}

const findUrl = (siblings: readonly ListenerInfo[], schemes: readonly ListenerScheme[], path: string): string | undefined => {
  for (const s of schemes) {
    const l = siblings.find((x) => x.scheme === s);
    if (l) return clientUrl(l, path);
  }
  return undefined;
};

/** The one log line for a client that came with the wrong protocol. */
export function adviceFor(listener: ListenerInfo, spoken: Spoken, siblings: readonly ListenerInfo[], webSocketPath: string): string {
  const here = clientUrl(listener, webSocketPath);
  const other = (schemes: ListenerScheme[], what: string): string =>
    findUrl(siblings, schemes, webSocketPath) ?? `${schemes[0]}:// (no such listener is configured; add one to mqttListeners for ${what})`;
  const name = `${listener.scheme} listener ${listener.url}`;

  switch (listener.scheme) {
    case 'mqtt':
      if (spoken === 'tls') return `TLS handshake on plain ${name}: TLS clients should use ${other(['mqtt+ssl', 'ws+ssl'], 'TLS')}, or connect without TLS to ${here}`;
      if (spoken === 'websocket') return `WebSocket handshake on ${name}, which speaks MQTT over TCP: WebSocket clients should use ${other(['ws', 'ws+ssl'], 'WebSocket')}`;
      return `HTTP request on ${name}, which speaks MQTT over TCP (clients connect to ${here}); for MQTT over WebSocket use ${other(['ws', 'ws+ssl'], 'WebSocket')}`;
    case 'mqtt+ssl':
    case 'mqtt+ssl+psk':
      if (spoken === 'websocket' || spoken === 'http') {
        return `${spoken === 'http' ? 'HTTP request' : 'WebSocket handshake'} on ${name}, which speaks MQTT over TLS: WebSocket clients should use ${other(['ws+ssl', 'ws'], 'WebSocket')}`;
      }
      return `non-TLS client on ${name}: connect with TLS to ${here}, or without TLS to ${other(['mqtt'], 'plain MQTT')}`;
    case 'ws':
      if (spoken === 'tls') return `TLS handshake on plain WebSocket ${name}: use ${other(['ws+ssl'], 'secure WebSocket')} for wss://, or ${here} without TLS`;
      return `MQTT bytes without WebSocket framing on ${name}: WebSocket clients connect to ${here}; MQTT-over-TCP clients to ${other(['mqtt', 'mqtt+ssl'], 'MQTT over TCP')}`;
    case 'ws+ssl':
      if (spoken === 'http' || spoken === 'websocket') {
        return `plain HTTP/WebSocket (no TLS) on secure ${name}: use ${here} (wss://), or ${other(['ws'], 'plain WebSocket')} without TLS`;
      }
      return `non-TLS, non-HTTP client on secure ${name}: WebSocket clients connect to ${here}; MQTT-over-TCP clients to ${other(['mqtt', 'mqtt+ssl'], 'MQTT over TCP')}`;
  }
}

/** What an HTTP client on an MQTT port reads: a short text, so curl and browsers show something useful. */
export function httpRefusal(advice: string): Buffer {
  const body = `Starling: this port speaks MQTT, not HTTP.\n${advice}\n`;
  return Buffer.from(
    `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
