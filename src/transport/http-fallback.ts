// What a ws/ws+ssl port answers to plain HTTP when no plug-in (web console, /metrics) did:
// a page saying what this port is and the URL to give an MQTT client, and a health check.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface EndpointDescription {
  /** WebSocket path of the MQTT endpoint, e.g. /mqtt. */
  path: string;
  secure: boolean;
  /** URL to show when the request has no usable Host header. */
  fallbackUrl: string;
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The URL the client reached us by (its Host header), so the page shows an address that works from there. */
export function endpointUrl(req: IncomingMessage, d: EndpointDescription): string {
  const host = req.headers.host;
  if (!host || !/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) return d.fallbackUrl;
  return `${d.secure ? 'wss' : 'ws'}://${host}${d.path}`;
}

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': `${type}; charset=utf-8`,
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
    ...extra,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function page(url: string): string {
  const u = escapeHtml(url);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Starling MQTT over WebSocket</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}code,pre{background:#f3f3f3;padding:.1em .3em}</style>
</head><body>
<h1>Starling</h1>
<p>This is the MQTT-over-WebSocket endpoint of the Starling MQTT broker. It is not a web page to browse:
connect an MQTT client (MQTT.js, MQTTX, Paho) to</p>
<pre>${u}</pre>
<p>For example with MQTT.js: <code>mqtt.connect('${u}')</code>. The path matters, and the WebSocket
subprotocol offered must be <code>mqtt</code> (every MQTT library does this for you).</p>
<p>Health check: <a href="/healthz">/healthz</a></p>
</body></html>
`;
}

/** Answers the request; never throws. */
export function answerPlainHttp(req: IncomingMessage, res: ServerResponse, d: EndpointDescription): void {
  const path = (req.url ?? '/').split('?')[0];
  const url = endpointUrl(req, d);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'text/plain', `Method not allowed. MQTT over WebSocket: ${url}\n`, { Allow: 'GET, HEAD' });
  } else if (path === '/healthz') {
    send(res, 200, 'text/plain', 'ok\n');
  } else if (path === d.path) {
    send(res, 426, 'text/plain', `This URL needs a WebSocket client speaking MQTT: ${url}\n`, { Upgrade: 'websocket', Connection: 'Upgrade' });
  } else if (path === '/' || path === '/index.html') {
    send(res, 200, 'text/html', page(url), { 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'" });
  } else {
    send(res, 404, 'text/plain', `Not found. This port serves MQTT over WebSocket at ${url}\n`);
  }
}
