// Settings that contradict each other: a feature switched on without what it needs (an error when
// nothing could work, a warning when part of it cannot), or a setting that the rest makes useless.
import type { Config, ConfigKey } from './schema.js';
import type { ListenerAddress } from './listener-url.js';
import { isWebSocketScheme, usesCertificate } from '../transport/kinds.js';

type Method = Config['mqttAuthenticationMethods'][number];

export function checkContradictions(config: Config, listeners: readonly ListenerAddress[], at: (key: ConfigKey) => string, problems: string[], warnings: string[]): void {
  const certTls = listeners.some((l) => usesCertificate(l.scheme));
  const web = listeners.some((l) => isWebSocketScheme(l.scheme));
  const methods = config.mqttAuthenticationMethods;
  const basic = config.mqttAuthenticationEnabled && methods.includes('basic');
  const token = config.mqttAuthenticationEnabled && methods.includes('token');

  if (config.mqttAuthenticationEnabled) {
    // What each method needs before any client can pass it.
    const missing: Record<Method, string | undefined> = {
      basic: config.mqttPasswordFile ? undefined : 'basic needs mqttPasswordFile (make one with starling passwd)',
      token: config.mqttTokenSecret || config.mqttTokenPublicKeyFile || config.mqttTokenJwksFile ? undefined : 'token needs mqttTokenSecret, mqttTokenPublicKeyFile or mqttTokenJwksFile',
      mtls: !certTls
        ? undefined // warned about in checks.ts already
        : // Without certificates of its own the broker uses its development CA (see checks.ts).
          config.mqttTlsTrustCertsFilePath || !config.mqttTlsCertificateFilePath
          ? undefined
          : 'mtls needs mqttTlsTrustCertsFilePath (the CA that signs client certificates)',
    };
    const lacking = methods.filter((m) => missing[m] !== undefined || (m === 'mtls' && !certTls));
    if (methods.length > 0 && lacking.length === methods.length) {
      const why = methods.map((m) => missing[m] ?? 'mtls needs an mqtt+ssl:// or ws+ssl:// listener').join('; ');
      problems.push(`${at('mqttAuthenticationEnabled')}: authentication is on but no client could ever authenticate: ${why}`);
    } else {
      for (const m of methods) if (missing[m]) warnings.push(`${at('mqttAuthenticationMethods')}: ${missing[m]}; until then every client trying ${m} is refused`);
    }
  }

  if (config.mqttAuthorizationEnabled && !config.mqttAclFile) {
    warnings.push(`${at('mqttAuthorizationEnabled')}: no mqttAclFile, so every publish and subscription is refused (fails closed)`);
  }
  if (config.mqttAclFile && !config.mqttAuthorizationEnabled) {
    warnings.push(`${at('mqttAclFile')}: is ignored while mqttAuthorizationEnabled is false`);
  }
  if (config.mqttPasswordFile && !basic && config.httpAdminUsers.length === 0) {
    warnings.push(`${at('mqttPasswordFile')}: is ignored: neither basic authentication (mqttAuthenticationEnabled with basic) nor httpAdminUsers uses it`);
  }
  if (config.httpAdminUsers.length > 0 && !config.mqttPasswordFile) {
    problems.push(`${at('httpAdminUsers')}: needs mqttPasswordFile (the admin users' passwords are checked against it)`);
  }
  if ((config.httpAdminToken || config.httpAdminUsers.length > 0) && !web) {
    warnings.push(`${at(config.httpAdminToken ? 'httpAdminToken' : 'httpAdminUsers')}: the admin API is served on ws:// and ws+ssl:// listeners, and mqttListeners has none`);
  }
  const tokenKeys = ['mqttTokenSecret', 'mqttTokenPublicKeyFile', 'mqttTokenJwksFile'] as const;
  const tokenSet = tokenKeys.find((k) => config[k]);
  if (tokenSet && !token) warnings.push(`${at(tokenSet)}: is ignored unless mqttAuthenticationEnabled is true with token among mqttAuthenticationMethods`);
  if (config.mqttTlsTrustCertsFilePath && !certTls) {
    warnings.push(`${at('mqttTlsTrustCertsFilePath')}: is ignored without an mqtt+ssl:// or ws+ssl:// listener`);
  }
  if (config.mqttTlsRequireTrustedClientCertOnConnect && !certTls) {
    warnings.push(`${at('mqttTlsRequireTrustedClientCertOnConnect')}: has no effect without an mqtt+ssl:// or ws+ssl:// listener`);
  }
  if (config.webSocketTrustForwardedFor && !web) {
    warnings.push(`${at('webSocketTrustForwardedFor')}: has no effect without a ws:// or ws+ssl:// listener`);
  }
}
