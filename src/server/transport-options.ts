// The transport's own settings, taken from the configuration: the transport never reads the Config
// (it sits below config in the layers), so the server hands it this narrow view.
import type { Config } from '../config/schema.js';
import { parseListenerUrl } from '../config/listener-url.js';
import { parsePskFile, parsePskIdentities } from '../config/psk.js';
import { tlsVersionRange, toOpenSslCipher } from '../config/tls-names.js';
import type { TlsSettings, TransportOptions, WebSocketOptions } from '../transport/options.js';
import type { ListenerInfo, ListenerSpec } from '../transport/transport.js';

/** The MQTT-over-WebSocket settings (our ws listeners and the library's attachWebSocket). */
export function webSocketOptions(config: Config): WebSocketOptions {
  return {
    path: config.webSocketPath,
    allowedOrigins: config.webSocketAllowedOrigins,
    trustForwardedFor: config.webSocketTrustForwardedFor,
    trustedProxyHops: config.webSocketTrustedProxyHops,
    pingIntervalSec: config.webSocketPingIntervalSec,
    maxFrameSize: config.webSocketMaxFrameSize,
    maxPacketSize: config.mqttMessageMaxLength,
  };
}

export function tlsSettings(config: Config): TlsSettings {
  return {
    certificateFile: config.mqttTlsCertificateFilePath,
    keyFile: config.mqttTlsKeyFilePath,
    trustedCaFile: config.mqttTlsTrustCertsFilePath,
    pskIdentityFile: config.mqttTlsPskIdentityFile,
    pskIdentityHint: config.mqttTlsPskIdentityHint,
    pskKeys: (file) => {
      const table = parsePskIdentities(config.mqttTlsPskIdentity);
      if (file) parsePskFile(file.toString('utf8'), config.mqttTlsPskIdentityFile, table);
      return table;
    },
    ...tlsVersionRange(config.mqttTlsProtocols),
    ciphers: config.mqttTlsCiphers.map(toOpenSslCipher).join(':'),
    // Asking unconditionally would make browsers with installed client certificates pop up a
    // certificate picker on every wss:// connection, so only when something will use the answer.
    requestClientCert: config.mqttTlsRequireTrustedClientCertOnConnect || config.mqttAuthenticationMethods.includes('mtls'),
    requireTrustedClientCert: config.mqttTlsRequireTrustedClientCertOnConnect,
    allowUntrustedClientCert: config.mqttTlsAllowInsecureConnection,
    refreshCheckSec: config.mqttTlsCertRefreshCheckDurationSec,
  };
}

/** One configured listener URL, parsed; errors name the listener. */
export function listenerSpec(url: string): ListenerSpec {
  const given = url.trim();
  try {
    return { url: given, ...parseListenerUrl(given) };
  } catch (err) {
    throw new Error(`listener ${given}: ${(err as Error).message}`);
  }
}

/** The configured listeners that parse (loadConfig has vetted them; a hand-built Config may not have). */
function configuredListeners(config: Config): ListenerInfo[] {
  const out: ListenerInfo[] = [];
  for (const url of config.mqttListeners) {
    try {
      out.push(listenerSpec(url));
    } catch {
      // a bad one just gives no suggestion to a client at the wrong port
    }
  }
  return out;
}

export function transportOptions(config: Config): TransportOptions {
  return { webSocket: webSocketOptions(config), tls: tlsSettings(config), listeners: configuredListeners(config) };
}
