// A failed TLS handshake in words an operator can act on. The server learns why only from what the
// client tells it: OpenSSL-based clients (mosquitto, curl, browsers) send an alert naming the
// problem; Node.js clients (MQTT.js) check the server certificate themselves and just hang up.

/** Node's codes for the client's alerts and the server's own checks → the cause and what to do. */
const CAUSES: Record<string, string> = {
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA:
    'the client does not trust the CA that signed the server certificate (unknown CA): give the client that CA (mosquitto --cafile, MQTT.js `ca`), or use a certificate from a CA it trusts',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE:
    'the client rejected the server certificate (bad certificate): most often its names do not include the host the client dialled (name mismatch); `starling certs --host NAME` adds names',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    'the client rejected the server certificate (certificate unknown): it is not trusted, or does not name the host the client dialled',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'the client says the server certificate has expired: renew mqttTlsCertificateFilePath',
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    'the client sent no certificate, and this listener requires one (mqttTlsRequireTrustedClientCertOnConnect): give the client a certificate signed by a CA in mqttTlsTrustCertsFilePath',
  ERR_SSL_NO_SHARED_CIPHER: 'no cipher suite in common with the client (mqttTlsCiphers)',
  ERR_SSL_UNSUPPORTED_PROTOCOL: 'no TLS version in common with the client (mqttTlsProtocols)',
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: 'no TLS version in common with the client (mqttTlsProtocols)',
  ERR_SSL_VERSION_TOO_LOW: 'the client offered only TLS versions older than mqttTlsProtocols allows',
};

export interface TlsFailure {
  /** The cause and the fix, in words. */
  cause: string;
  /** Nothing reached the server: a port probe or a TCP health check, not worth a warning. */
  probe: boolean;
}

/**
 * Why a handshake failed. `authorizationError` is the verification error of a client certificate
 * Node refused itself (it then closes the socket, so the error code alone says only ECONNRESET);
 * `bytesRead` is what the raw socket received, 0 when the client never sent a ClientHello.
 */
export function tlsFailure(code: string | undefined, message: string, authorizationError?: string | null, bytesRead?: number): TlsFailure {
  if (authorizationError) {
    return {
      cause: `the client certificate was refused (${authorizationError}): it must be signed by a CA in mqttTlsTrustCertsFilePath`,
      probe: false,
    };
  }
  const known = code ? CAUSES[code] : undefined;
  if (known) return { cause: known, probe: false };
  if (code === 'ECONNRESET') {
    if (bytesRead === 0) return { cause: 'connection closed before the TLS handshake began', probe: true };
    return {
      cause:
        'the client closed the connection during the handshake without saying why; Node.js clients (MQTT.js) do this when they do not trust the server certificate ' +
        '(unknown CA: give the client the CA) or when it does not name the host they dialled (name mismatch)',
      probe: false,
    };
  }
  return { cause: message.split('\n')[0], probe: false };
}
