// Why a WebSocket connection failed, in words. A browser tells a page nothing about a failed
// WebSocket (no status, no TLS error), and the console's Content Security Policy keeps it from
// probing other origins, so it reasons from what it knows: the broker's listener list
// (/console.json), the page's own origin, and the broker's origin rule: WebSocket connections come
// from its own pages, from pages served on this machine (localhost, 127.0.0.0/8, [::1]), or from the
// origins webSocketAllowedOrigins lists.

export interface Diagnosis {
  why: string;
  /** A URL that should work, from the broker's listener list. */
  suggest?: string;
}

const httpOf = (u: URL): string => `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}`;
const portOf = (u: URL): string => u.port || (u.protocol === 'wss:' || u.protocol === 'https:' ? '443' : '80');
const loopback = (host: string): boolean => ['localhost', '127.0.0.1', '[::1]'].includes(host);
const sameHost = (a: string, b: string): boolean => a === b || (loopback(a) && loopback(b));
/** A page the broker admits from any of its listeners: one served from the user's own machine. */
const localPage = (hostname: string): boolean => hostname === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === '[::1]';

export function diagnose(url: string, listenerUrls: readonly string[], page: { origin: string; protocol: string; hostname: string }): Diagnosis {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { why: `“${url}” is not a URL.` };
  }
  const listeners = listenerUrls.flatMap((l) => {
    try {
      const x = new URL(l);
      return x.protocol === 'ws:' || x.protocol === 'wss:' ? [x] : [];
    } catch {
      return [];
    }
  });
  const listener = listeners.find((l) => sameHost(l.hostname, u.hostname) && portOf(l) === portOf(u));
  // The listener that served this page: same origin, so the broker always accepts it.
  const own = listeners.find((l) => httpOf(l) === page.origin);
  const suggest = own?.href ?? listeners[0]?.href;

  if (page.protocol === 'https:' && u.protocol === 'ws:') {
    return { why: 'This page was loaded over https, and a browser does not let such a page open an unencrypted ws:// connection.', suggest: listeners.find((l) => l.protocol === 'wss:')?.href };
  }
  if (listener && listener.protocol !== u.protocol) {
    return listener.protocol === 'wss:'
      ? { why: `Port ${portOf(u)} speaks TLS: connect with wss://, not ws://.`, suggest: listener.href }
      : { why: `Port ${portOf(u)} speaks plain WebSocket without TLS: connect with ws://, not wss://.`, suggest: listener.href };
  }
  if (listener && listener.pathname !== u.pathname) {
    return { why: `The broker takes MQTT on ${listener.pathname} on this port; ${u.pathname === '/' ? 'the URL has no path' : `${u.pathname} is not it`}.`, suggest: listener.href };
  }
  const tls = u.protocol === 'wss:'
    ? ` It uses TLS: if this browser does not trust its certificate (a development or private one), opening ${httpOf(u)}/ lets you accept it.`
    : '';
  if (listener && httpOf(u) !== page.origin && !localPage(page.hostname)) {
    return {
      why: `The broker takes WebSocket connections only from its own pages, pages served on its machine and the origins in webSocketAllowedOrigins; this page comes from ${page.origin}, not ${httpOf(u)}. Open the console at ${httpOf(u)}/, add ${page.origin} to webSocketAllowedOrigins, or use this page's listener.${tls}`,
      suggest: own?.href,
    };
  }
  if (listener && tls) return { why: `The listener is right and takes pages from this machine.${tls} Open the console at ${httpOf(u)}/ to use it directly.`, suggest: own?.href ?? listener.href };
  if (listener) {
    return { why: 'The listener is right, but the broker closed the WebSocket: it may be shutting down or at a connection limit, or a proxy in between does not pass WebSocket upgrades.' };
  }
  if (sameHost(u.hostname, page.hostname) && listeners.length > 0) {
    return { why: `Nothing of this broker is listening on port ${portOf(u)}; its WebSocket listeners are ${listeners.map((l) => l.href).join(', ')}.`, suggest };
  }
  return {
    why: `Nothing answered at ${u.host}, and a browser does not say why. Check that something is listening there, the path (this broker uses ${own?.pathname ?? '/mqtt'}), ws:// or wss:// to match the port, that this browser trusts the certificate (open ${httpOf(u)}/ once), and that the broker accepts pages from ${page.origin} (webSocketAllowedOrigins).`,
    suggest,
  };
}
