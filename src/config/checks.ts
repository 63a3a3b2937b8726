// Checks that involve more than one key or the file system, run once every value has parsed.
// Problems name the source of the key at fault (file:line, variable or flag).
import { readFileSync, statSync } from 'node:fs';
import type { Config, ConfigKey } from './schema.js';
import { parseListenerUrl, type ListenerAddress } from './listener-url.js';
import { LISTENER_KINDS, isTlsScheme, usesCertificate } from '../transport/kinds.js';
import { parsePskFile } from './psk.js';
import { tlsVersionRange } from './tls-names.js';
import { checkContradictions } from './contradictions.js';

/** `allowNoListeners`: a broker embedded in an application (src/api/) may serve only what it is handed. */
export function checkConfig(config: Config, sources: Record<ConfigKey, string>, problems: string[], warnings: string[], opts: { allowNoListeners?: boolean } = {}): void {
  const at = (key: ConfigKey): string => `${sources[key]}: ${key}`;
  const listeners: ListenerAddress[] = config.mqttListeners.map((u) => parseListenerUrl(u));

  if (listeners.length === 0 && !opts.allowNoListeners) problems.push(`${at('mqttListeners')}: no listeners; give at least one, e.g. mqtt://127.0.0.1:1883`);
  const taken = new Map<string, string>();
  config.mqttListeners.forEach((url, i) => {
    const l = listeners[i];
    if (l.port === 0) return;
    const where = `${l.host}:${l.port}`;
    const other = taken.get(where);
    if (other) problems.push(`${at('mqttListeners')}: ${url} and ${other} both use ${where}`);
    taken.set(where, url);
  });

  if (config.persistence === 'nats') {
    // The node's state lives under a name derived from its id: a random id would orphan it.
    if (!config.clusterNatsUrl) problems.push(`${at('persistence')}: nats needs clusterNatsUrl (the NATS servers with JetStream)`);
    if (!config.clusterNodeId) problems.push(`${at('persistence')}: nats needs a fixed clusterNodeId (the node's stored state is named after it)`);
    else if (nodeStorePrefix(config.clusterSubjectPrefix, config.clusterNodeId).length > 64) {
      problems.push(`${at('clusterNodeId')}: with clusterSubjectPrefix, too long for the node's JetStream names (at most 64 characters together)`);
    }
  }
  if ((config.clusterNatsTlsCertFile === '') !== (config.clusterNatsTlsKeyFile === '')) {
    problems.push(`${at('clusterNatsTlsCertFile')}: give clusterNatsTlsCertFile and clusterNatsTlsKeyFile together`);
  }
  for (const key of ['clusterNatsTlsCaFile', 'clusterNatsTlsCertFile', 'clusterNatsTlsKeyFile'] as const) {
    if (config[key] && !isFile(config[key])) problems.push(`${at(key)}: ${config[key]}: no such file`);
  }
  if (config.workers !== 1 && config.clusterNatsUrl) {
    // A worker would be a cluster node of its own, and sessions do not move between NATS nodes yet.
    problems.push(`${at('workers')}: cannot be combined with clusterNatsUrl yet; in cluster mode run one process per node (workers=1)`);
  }

  // A packet being received counts against the budget: the largest one allowed must fit, and a
  // second one read behind it too.
  if (config.maxClientMemory < 2 * config.mqttMessageMaxLength) {
    problems.push(`${at('maxClientMemory')}: ${config.maxClientMemory} is less than twice mqttMessageMaxLength (${config.mqttMessageMaxLength}); raise it or lower mqttMessageMaxLength`);
  }

  try {
    tlsVersionRange(config.mqttTlsProtocols);
  } catch (err) {
    problems.push(`${at('mqttTlsProtocols')}: ${(err as Error).message}`);
  }

  const usesCertTls = listeners.some((l) => usesCertificate(l.scheme));
  const usesPsk = listeners.some((l) => LISTENER_KINDS[l.scheme].tls === 'psk');

  if (config.mqttTlsCertificateFilePath && !config.mqttTlsKeyFilePath) {
    problems.push(`${at('mqttTlsCertificateFilePath')}: is set but mqttTlsKeyFilePath is not; give both`);
  }
  if (config.mqttTlsKeyFilePath && !config.mqttTlsCertificateFilePath) {
    problems.push(`${at('mqttTlsKeyFilePath')}: is set but mqttTlsCertificateFilePath is not; give both`);
  }
  if (listeners.some((l) => isTlsScheme(l.scheme))) {
    for (const key of ['mqttTlsCertificateFilePath', 'mqttTlsKeyFilePath', 'mqttTlsTrustCertsFilePath', 'mqttTlsPskIdentityFile'] as const) {
      const path = config[key];
      if (path && !isFile(path)) problems.push(`${at(key)}: ${path}: no such file`);
    }
  }
  if (config.mqttTlsRequireTrustedClientCertOnConnect && config.mqttTlsCertificateFilePath && !config.mqttTlsTrustCertsFilePath) {
    problems.push(`${at('mqttTlsRequireTrustedClientCertOnConnect')}: needs mqttTlsTrustCertsFilePath (the CA that signs client certificates)`);
  }

  if (usesPsk) {
    let count = config.mqttTlsPskIdentity ? config.mqttTlsPskIdentity.split(';').filter((s) => s.trim()).length : 0;
    let fileBroken = false;
    if (config.mqttTlsPskIdentityFile && isFile(config.mqttTlsPskIdentityFile)) {
      try {
        count += parsePskFile(readFileSync(config.mqttTlsPskIdentityFile, 'utf8'), config.mqttTlsPskIdentityFile).size;
      } catch (err) {
        fileBroken = true;
        problems.push(`${at('mqttTlsPskIdentityFile')}: ${(err as Error).message}`);
      }
    }
    const fileMissing = !!config.mqttTlsPskIdentityFile && !isFile(config.mqttTlsPskIdentityFile);
    if (count === 0 && !fileBroken && !fileMissing) problems.push(`${at('mqttListeners')}: an mqtt+ssl+psk:// listener needs mqttTlsPskIdentity or mqttTlsPskIdentityFile`);
  } else if (config.mqttTlsPskEnabled) {
    warnings.push(`${at('mqttTlsPskEnabled')}: has no effect without an mqtt+ssl+psk:// listener in mqttListeners`);
  }

  if (config.webSocketMaxFrameSize !== 0 && config.webSocketMaxFrameSize < config.mqttMessageMaxLength) {
    warnings.push(
      `${at('webSocketMaxFrameSize')}: ${config.webSocketMaxFrameSize} is below mqttMessageMaxLength ${config.mqttMessageMaxLength}; ` +
        'clients that send a packet per WebSocket message (MQTT.js, browsers) are cut off at the smaller size',
    );
  }
  if (config.mqttAuthenticationEnabled && config.mqttAuthenticationMethods.includes('mtls') && !usesCertTls) {
    warnings.push(`${at('mqttAuthenticationMethods')}: mtls needs an mqtt+ssl:// or ws+ssl:// listener`);
  }
  checkContradictions(config, listeners, at, problems, warnings);
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The JetStream name prefix of one node's store with persistence=nats: `<prefix>_node_<id>`. */
export function nodeStorePrefix(subjectPrefix: string, nodeId: string): string {
  return `${subjectPrefix.replace(/\./g, '_')}_node_${nodeId}`;
}
