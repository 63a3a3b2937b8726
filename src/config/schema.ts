// THE configuration table: every setting Starling knows, with its kind, default and meaning.
// The loader, the CLI flags, the environment variables and docs/configuration.md all come from
// here, so adding a key is one entry. Names are fixed: users paste them from MoP-style configs.
import { parseListenerUrl } from './listener-url.js';
import { parsePskIdentities } from './psk.js';
import { normalizeTlsVersion, toOpenSslCipher } from './tls-names.js';

export type Kind = 'string' | 'path' | 'int' | 'bool' | 'list' | 'enum' | 'duration' | 'size';

export type Group = 'Listeners' | 'TLS' | 'TLS-PSK' | 'WebSocket' | 'HTTP' | 'MQTT' | 'Security' | 'Storage and queues' | 'Operations';

export interface KeySpec {
  kind: Kind;
  default: string | number | boolean | readonly string[];
  group: Group;
  /** One line: what it does, units, what 0 or empty means. */
  doc: string;
  /** Allowed values of an enum, or of every item of a list. */
  values?: readonly string[];
  min?: number;
  max?: number;
  /** Checks (and canonicalises) a string value or each list item; throws a user-facing Error. */
  item?: (text: string) => string;
  /** A password, token or key: `starling config` prints it masked. */
  secret?: boolean;
}

const def = <const S extends KeySpec>(s: S): S => s;

const MiB = 1024 * 1024;
const KiB = 1024;
/** Fixed header (1) + the largest Variable Byte Integer (4) + its value [MQTT-1.5.5, 2.1.4]. */
export const MQTT_MAX_PACKET_SIZE = 268_435_455 + 5;

const listener = (text: string): string => {
  parseListenerUrl(text);
  return text.trim();
};
const tlsVersion = (text: string): string => {
  const v = normalizeTlsVersion(text);
  if (!v) throw new Error(`"${text}" is not a TLS version (use TLSv1.2, TLSv1.3)`);
  return v;
};
const cipher = (text: string): string => {
  toOpenSslCipher(text);
  return text;
};
const pskIdentities = (text: string): string => {
  parsePskIdentities(text);
  return text;
};
const wsPath = (text: string): string => {
  if (!/^\/[^\s?#]*$/.test(text)) throw new Error(`"${text}" must be a path starting with / (e.g. /mqtt)`);
  return text;
};
const origin = (text: string): string => {
  // scheme://host[:port], host may start with *. for subdomains; `*` alone is "any".
  if (text === '*') return text;
  if (!/^[a-z][a-z0-9+.-]*:\/\/(\*\.)?[^\s/:*]+(:\d{1,5})?$/i.test(text)) {
    throw new Error(`"${text}" is not an origin like https://app.example.com or https://*.example.com`);
  }
  return text.toLowerCase();
};
const natsUrl = (text: string): string => {
  for (const u of text.split(',')) {
    if (!/^(nats|tls|ws|wss):\/\/\S+$/i.test(u.trim()) && !/^[^\s:/]+:\d+$/.test(u.trim())) {
      throw new Error(`"${u.trim()}" is not a NATS server URL like nats://127.0.0.1:4222`);
    }
  }
  return text;
};

const clusterToken = (text: string): string => {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(text)) throw new Error(`"${text}" must be 1..64 characters of A-Z a-z 0-9 _ -`);
  return text;
};
const clusterPrefix = (text: string): string => {
  if (!/^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/.test(text)) throw new Error(`"${text}" must be dot-separated words of A-Z a-z 0-9 _ -`);
  return text;
};

export const schema = {
  // --- Listeners
  mqttListeners: def({
    kind: 'list',
    default: ['mqtt://127.0.0.1:1883', 'mqtt+ssl://127.0.0.1:8883', 'ws://127.0.0.1:8083', 'ws+ssl://127.0.0.1:8084'],
    group: 'Listeners',
    doc: 'Listeners to open, comma-separated: mqtt://, mqtt+ssl:// (mqtts://), mqtt+ssl+psk://, ws://, ws+ssl:// (wss://); host 0.0.0.0 or [::] for every interface; port 0 = any free port.',
    item: listener,
  }),

  // --- TLS
  mqttTlsCertificateFilePath: def({ kind: 'path', default: '', group: 'TLS', doc: 'PEM server certificate (with chain) for TLS listeners; empty = a development certificate generated into <dataDir>/certs.' }),
  mqttTlsKeyFilePath: def({ kind: 'path', default: '', group: 'TLS', doc: 'PEM private key of mqttTlsCertificateFilePath.' }),
  mqttTlsTrustCertsFilePath: def({ kind: 'path', default: '', group: 'TLS', doc: 'PEM CA certificate(s) that client certificates are verified against (mutual TLS).' }),
  mqttTlsRequireTrustedClientCertOnConnect: def({ kind: 'bool', default: false, group: 'TLS', doc: 'Mutual TLS: refuse TLS clients without a certificate signed by mqttTlsTrustCertsFilePath.' }),
  mqttTlsAllowInsecureConnection: def({ kind: 'bool', default: false, group: 'TLS', doc: 'Let clients whose certificate does not verify connect anyway (the certificate is then not trusted for authentication).' }),
  mqttTlsProtocols: def({ kind: 'list', default: ['TLSv1.2', 'TLSv1.3'], group: 'TLS', doc: 'TLS versions accepted, a contiguous range of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3.', item: tlsVersion }),
  mqttTlsCiphers: def({ kind: 'list', default: [], group: 'TLS', doc: 'Cipher suites, OpenSSL or IANA names (ECDHE-RSA-AES128-GCM-SHA256, TLS_AES_128_GCM_SHA256); empty = Node defaults.', item: cipher }),
  mqttTlsCertRefreshCheckDurationSec: def({ kind: 'duration', default: 300, group: 'TLS', min: 0, doc: 'Seconds between checks of the certificate, key and CA files; changed files are loaded for new connections. 0 = never.' }),

  // --- TLS-PSK
  mqttTlsPskIdentityHint: def({ kind: 'string', default: '', group: 'TLS-PSK', doc: 'Identity hint sent to PSK clients on mqtt+ssl+psk:// listeners.' }),
  mqttTlsPskIdentity: def({ kind: 'string', secret: true, default: '', group: 'TLS-PSK', doc: 'PSK identities as id:secret;id2:secret2 (the secret is used as its UTF-8 bytes).', item: pskIdentities }),
  mqttTlsPskIdentityFile: def({ kind: 'path', default: '', group: 'TLS-PSK', doc: 'File of PSK identities, one id:secret per line (# comments); merged with mqttTlsPskIdentity, re-read with the certificates.' }),
  mqttTlsPskEnabled: def({ kind: 'bool', default: false, group: 'TLS-PSK', doc: 'Accepted for MoP compatibility and otherwise unused: PSK is switched on by an mqtt+ssl+psk:// listener.' }),

  // --- WebSocket
  webSocketPath: def({ kind: 'string', default: '/mqtt', group: 'WebSocket', doc: 'HTTP path of the MQTT-over-WebSocket endpoint (a ws:// URL in mqttListeners may give its own).', item: wsPath }),
  webSocketMaxFrameSize: def({ kind: 'size', default: 0, group: 'WebSocket', min: 0, max: MQTT_MAX_PACKET_SIZE, doc: 'Largest WebSocket message accepted, bytes; 0 = mqttMessageMaxLength + 64 KiB, so a whole MQTT packet (and small ones sent with it) always fits. Larger messages close with code 1009.' }),
  webSocketAllowedOrigins: def({ kind: 'list', default: [], group: 'WebSocket', doc: 'Browser Origins allowed to connect besides those admitted by default (the listener\'s own pages, pages served from localhost, 127.0.0.0/8 or [::1] on any port, and file pages (Origin null) on listeners bound to a loopback address): https://app.example.com, https://*.example.com, or * for any page on any site (logged as a warning at start-up). Requests without Origin (non-browser clients) always pass.', item: origin }),
  webSocketTrustForwardedFor: def({ kind: 'bool', default: false, group: 'WebSocket', doc: 'Take the client address from X-Forwarded-For, counting webSocketTrustedProxyHops entries from the right (only behind proxies you run).' }),
  webSocketTrustedProxyHops: def({ kind: 'int', default: 1, group: 'WebSocket', min: 1, max: 16, doc: 'Proxies you run in front of the WebSocket listeners, each appending to X-Forwarded-For; the client address is that many entries from the right (1 = the last entry).' }),
  webSocketPingIntervalSec: def({ kind: 'duration', default: 30, group: 'WebSocket', min: 0, doc: 'Seconds between WebSocket pings; a client that has not answered the previous ping is dropped. 0 = no pings.' }),

  // --- HTTP
  httpConsoleEnabled: def({ kind: 'bool', default: true, group: 'HTTP', doc: 'Serve the web console on the ws:// and ws+ssl:// listeners (plain HTTP requests beside the WebSocket endpoint).' }),
  httpAdminToken: def({ kind: 'string', secret: true, default: '', group: 'HTTP', doc: 'Bearer token for the admin HTTP API (/api/v1/...) on ws/ws+ssl listeners; the API is off when this and httpAdminUsers are empty.' }),
  httpAdminUsers: def({ kind: 'list', default: [], group: 'HTTP', doc: 'Users of mqttPasswordFile allowed into the admin API with HTTP Basic credentials (alice,bob); empty = none.' }),

  // --- MQTT
  mqttMessageMaxLength: def({ kind: 'size', default: MiB, group: 'MQTT', min: 64, max: MQTT_MAX_PACKET_SIZE, doc: 'Largest MQTT packet accepted from a client, bytes (advertised as Maximum Packet Size in MQTT 5).' }),
  mqttMaxKeepAliveSec: def({ kind: 'duration', default: 0, group: 'MQTT', min: 0, max: 65535, doc: 'Largest keep-alive granted to a client, seconds (MQTT 5 Server Keep Alive); 0 = whatever the client asks.' }),
  mqttResponseInformation: def({ kind: 'string', default: '', group: 'MQTT', doc: 'Response Information sent in CONNACK to MQTT 5 clients that ask for it (request/response topic root); %c is replaced by the client id; empty = none.' }),
  connectTimeoutSec: def({ kind: 'duration', default: 10, group: 'MQTT', min: 1, doc: 'Seconds a new connection has, from accept, to finish any TLS handshake or WebSocket upgrade, send CONNECT and finish authenticating before it is closed.' }),
  maxInflightMessages: def({ kind: 'int', default: 100, group: 'MQTT', min: 1, max: 65535, doc: 'QoS 1/2 messages in flight towards one client (further capped by its Receive Maximum).' }),
  // 32, not the protocol's 65,535: each exchange open towards us holds state (a QoS 2 id, a message
  // waiting for the store), and brokers people trust grant 10 to 32; clients queue the rest themselves.
  mqttReceiveMaximum: def({ kind: 'int', default: 32, group: 'MQTT', min: 1, max: 65535, doc: 'QoS 1/2 PUBLISH an MQTT 5 client may have unacknowledged towards the broker (Receive Maximum in CONNACK); one more is refused with DISCONNECT 0x93.' }),
  mqttTopicAliasMaximum: def({ kind: 'int', default: 10, group: 'MQTT', min: 0, max: 65535, doc: 'Topic aliases an MQTT 5 client may set towards the broker (Topic Alias Maximum in CONNACK; each holds a topic of up to maxTopicLength); 0 = none. An alias of 0 or above it: DISCONNECT 0x94.' }),
  maxOutgoingTopicAliases: def({ kind: 'int', default: 10, group: 'MQTT', min: 0, max: 65535, doc: 'Topic aliases the broker assigns towards one MQTT 5 client (also capped by the Topic Alias Maximum in its CONNECT); 0 = none.' }),
  maxUserProperties: def({ kind: 'int', default: 32, group: 'MQTT', min: 0, max: 65535, doc: 'Most User Properties in one packet from a client (a CONNECT\'s will counted with it); more: CONNACK or DISCONNECT 0x97.' }),
  maxUserPropertyBytes: def({ kind: 'size', default: 8 * KiB, group: 'MQTT', min: 0, max: MQTT_MAX_PACKET_SIZE, doc: 'Most bytes of User Property names and values in one packet from a client; more: CONNACK or DISCONNECT 0x97.' }),
  maxClientMemory: def({ kind: 'size', default: 8 * MiB, group: 'MQTT', min: 64 * KiB, doc: 'Memory budget of one connection, bytes: its topic aliases (both ways), a partly received packet and packets read while an earlier one waits for the store; over it: DISCONNECT 0x97. At least twice mqttMessageMaxLength. (Queued and in-flight messages are bounded by maxQueuedBytes and maxInflightMessages.)' }),
  maxConnections: def({ kind: 'int', default: 0, group: 'MQTT', min: 0, doc: 'Most client connections at once over all listeners, counted from accept (a socket in its TLS handshake or WebSocket upgrade counts); 0 = no limit.' }),
  maxConnectionsPerAddress: def({ kind: 'int', default: 0, group: 'MQTT', min: 0, doc: 'Most connections at once from one client address, counted from accept like maxConnections; 0 = no limit.' }),
  maxTopicLength: def({ kind: 'int', default: 65_535, group: 'MQTT', min: 1, max: 65_535, doc: 'Longest topic name or filter accepted, in characters.' }),
  maxTopicLevels: def({ kind: 'int', default: 128, group: 'MQTT', min: 1, doc: 'Most levels (parts between /) in a topic name or filter.' }),
  maxSubscriptionsPerClient: def({ kind: 'int', default: 1000, group: 'MQTT', min: 0, doc: 'Most subscriptions one client session may hold; 0 = no limit (beyond it: SUBACK 0x97 / 0x80).' }),
  maxPublishRate: def({ kind: 'int', default: 0, group: 'MQTT', min: 0, doc: 'PUBLISH packets per second one client may send; over it the broker stops reading from it for a while; 0 = no limit.' }),
  maxPublishBytesRate: def({ kind: 'size', default: 0, group: 'MQTT', min: 0, doc: 'Bytes per second one client may send; over it the broker stops reading from it for a while; 0 = no limit.' }),
  maxOutgoingBytes: def({ kind: 'size', default: 8 * MiB, group: 'MQTT', min: 64 * 1024, doc: 'Bytes waiting to be sent to one client beyond which QoS 0 messages to it are dropped and QoS 1/2 wait in its queue (for the buffer to drain). At least 64 KiB: a socket reports a drain only once a write found it past its own 16 KiB mark, so below that QoS 1/2 could wait for a drain that never comes.' }),
  slowConsumerTimeoutSec: def({ kind: 'duration', default: 60, group: 'MQTT', min: 0, doc: 'A client whose outgoing buffer stays over maxOutgoingBytes this long is disconnected; 0 = never.' }),

  // --- Security
  mqttAuthenticationEnabled: def({ kind: 'bool', default: false, group: 'Security', doc: 'Require clients to authenticate with one of mqttAuthenticationMethods.' }),
  mqttAuthenticationMethods: def({ kind: 'list', default: ['basic'], group: 'Security', values: ['basic', 'token', 'mtls'], doc: 'Accepted methods: basic (username/password), token (JWT as password), mtls (client certificate).' }),
  mqttPasswordFile: def({ kind: 'path', default: '', group: 'Security', doc: 'Password file for basic authentication (written by starling passwd).' }),
  mqttAuthorizationEnabled: def({ kind: 'bool', default: false, group: 'Security', doc: 'Check publishes and subscriptions against mqttAclFile.' }),
  mqttAclFile: def({ kind: 'path', default: '', group: 'Security', doc: 'Access control list file.' }),
  mqttTokenSecret: def({ kind: 'string', secret: true, default: '', group: 'Security', doc: 'HMAC secret (HS256/384/512) for token authentication.' }),
  mqttTokenPublicKeyFile: def({ kind: 'path', default: '', group: 'Security', doc: 'PEM public key or certificate (RS/PS/ES/EdDSA) for token authentication.' }),
  mqttTokenJwksFile: def({ kind: 'path', default: '', group: 'Security', doc: 'JWKS file for token authentication; the key is chosen by kid.' }),
  mqttTokenIssuer: def({ kind: 'string', default: '', group: 'Security', doc: 'Required iss claim of tokens; empty = not checked.' }),
  mqttTokenAudience: def({ kind: 'string', default: '', group: 'Security', doc: 'Required aud claim of tokens; empty = not checked.' }),
  mqttTokenClockToleranceSec: def({ kind: 'int', default: 30, group: 'Security', min: 0, doc: 'Clock slack allowed on exp/nbf of tokens, seconds.' }),
  mqttTokenUsernameClaim: def({ kind: 'string', default: 'sub', group: 'Security', doc: 'Token claim that becomes the user name (for ACLs).' }),
  mqttTlsClientCertUsernameField: def({ kind: 'string', default: 'CN', group: 'Security', doc: 'Client certificate subject field that becomes the user name with mtls.' }),

  // --- Storage and queues
  dataDir: def({ kind: 'path', default: './data', group: 'Storage and queues', doc: 'Directory for the database, generated development certificates and the server secret (server-secret, made on first start, mode 0600; keys the SCRAM answers for unknown users).' }),
  persistence: def({ kind: 'enum', default: 'sqlite', group: 'Storage and queues', values: ['sqlite', 'memory', 'nats'], doc: 'Where sessions, queued and retained messages live: sqlite (in dataDir, survives restarts), memory, or nats (NATS JetStream of the cluster, replicated; needs clusterNatsUrl and clusterNodeId; see docs/clustering.md).' }),
  persistenceSync: def({ kind: 'enum', default: 'normal', group: 'Storage and queues', values: ['normal', 'full'], doc: 'SQLite commit durability: normal = acknowledged messages survive a broker crash or kill, not an OS crash or power loss; full = also those, at an fsync per batch (slower on most disks).' }),
  maxQueuedMessages: def({ kind: 'int', default: 1000, group: 'Storage and queues', min: 0, doc: 'Messages queued per offline or slow client.' }),
  maxQueuedBytes: def({ kind: 'size', default: 64 * MiB, group: 'Storage and queues', min: 0, doc: 'Bytes queued per offline or slow client: topic (UTF-8) + payload of each message waiting for its in-flight window (which maxInflightMessages bounds).' }),
  maxQueuedBytesTotal: def({ kind: 'size', default: 1024 * MiB, group: 'Storage and queues', min: 0, doc: 'Bytes all sessions together may hold in their queues and in-flight windows (topic in UTF-8 + payload of each entry, as maxQueuedBytes counts them; a message queued for several sessions counts in each); 0 = no limit. When it is full, a QoS 1/2 message for an offline session is dropped (drop reason queueBudget, the first per session logged at warn), and an online session follows queueOverflowPolicy: backPressure holds the publisher until the total has room (at most backPressureTimeoutSec), dropOldest drops that session\'s oldest if that makes room, refuseNewest drops the new one. Gauge starling_queued_bytes, $SYS/broker/messages/queued/bytes. The default is 16 sessions at maxQueuedBytes; set it to what the host can spare. Each worker (workers=N) and cluster node has its own.' }),
  maxSessionBytesTotal: def({ kind: 'size', default: 256 * MiB, group: 'Storage and queues', min: 0, doc: 'Bytes all sessions together may hold besides their queues, connected and offline: client ids and subscription filters (in UTF-8), wills (topic, payload, properties) and inbound QoS 2 ids awaiting PUBREL (20 bytes each); what a client chooses and an offline session keeps. Beyond it a new subscription is refused in its SUBACK (0x97 Quota exceeded; 3.1.1: 0x80), a CONNECT that would add a session or a will is refused (CONNACK 0x97; 3.1.1: 0x03), logged at warn once a minute, and a QoS 2 PUBLISH gets PUBREC 0x97 (3.1.1: acknowledged and dropped); nothing already held is dropped. Gauge starling_session_state_bytes, $SYS/broker/sessions/state/bytes. 0 = no limit. Each worker (workers=N) and cluster node counts its own.' }),
  maxSessions: def({ kind: 'int', default: 100_000, group: 'Storage and queues', min: 0, doc: 'Most sessions held at once, connected and offline together (an offline one is kept until its Session Expiry Interval ends); a CONNECT that would start a new session beyond it is refused with CONNACK 0x97 Quota exceeded (MQTT 5) or 0x03 Server unavailable (3.1.1), logged at warn once a minute; resuming a session or taking over a client id is never refused. 0 = no limit. Each worker (workers=N) and cluster node counts its own.' }),
  queueOverflowPolicy: def({ kind: 'enum', default: 'backPressure', group: 'Storage and queues', values: ['dropOldest', 'refuseNewest', 'backPressure'], doc: 'When a client queue is full: dropOldest drops its oldest message (drop reason queueFull); refuseNewest refuses the new one (queueRefused); backPressure (the default) queues a QoS 1/2 message for an online client anyway and holds the publisher (its PUBACK/PUBREC waits and it is not read) until the queue has drained to half its limits, so a subscriber that is merely behind loses nothing that was acknowledged. A hold lasts at most backPressureTimeoutSec; then that client\'s oldest messages are dropped (backPressureTimeout) until its queue drains to half. Offline clients, and publishers that cannot be held (wills, $SYS, the admin API), drop the oldest. The first drop per client is logged at warn, once until its queue drains.' }),
  backPressureTimeoutSec: def({ kind: 'duration', default: 10, group: 'Storage and queues', min: 1, doc: 'queueOverflowPolicy=backPressure: longest one client\'s full queue holds its publishers; past it, a queue still over its limits drops its oldest messages instead (drop reason backPressureTimeout) until it drains to half, and one back within its limits (draining, not yet at half) lets its publishers go. Keep it well under the keepalive of your publishers (a held publisher is not read).' }),
  maxRetainedMessages: def({ kind: 'int', default: 1_000_000, group: 'Storage and queues', min: 0, doc: 'Most retained messages kept; retaining on a new topic beyond it is refused.' }),
  maxRetainedBytes: def({ kind: 'size', default: 256 * MiB, group: 'Storage and queues', min: 0, doc: 'Most bytes of retained messages kept, counted as topic + payload + properties of each; a retained message that would grow the total beyond it is not kept (replacing one with a smaller one and clearing one always work); 0 = no limit. Each worker (workers=N) and cluster node holds its own copy within it.' }),

  // --- Operations
  sysIntervalSec: def({ kind: 'duration', default: 10, group: 'Operations', min: 0, doc: 'Seconds between $SYS/# statistics publications; 0 = off.' }),
  logLevel: def({ kind: 'enum', default: 'info', group: 'Operations', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'How much to log: fatal, error, warn, info, debug, trace or silent.' }),
  logFormat: def({ kind: 'enum', default: 'auto', group: 'Operations', values: ['auto', 'pretty', 'json'], doc: 'Log output: pretty (human-readable), json (one object per line), auto = pretty on a terminal, json otherwise.' }),
  workers: def({ kind: 'int', default: 1, group: 'Operations', min: 0, max: 1024, doc: 'Broker processes sharing the listeners (one broker: messages, sessions and retained messages cross between them); 0 = one per CPU core. See docs/workers.md.' }),
  clusterNatsUrl: def({ kind: 'string', default: '', group: 'Operations', doc: 'NATS server(s) for clustering, e.g. nats://127.0.0.1:4222; empty = a single standalone node.', item: natsUrl }),
  clusterNatsUser: def({ kind: 'string', default: '', group: 'Operations', doc: 'User name for the NATS servers (with clusterNatsPassword); also for persistence=nats.' }),
  clusterNatsPassword: def({ kind: 'string', secret: true, default: '', group: 'Operations', doc: 'Password for clusterNatsUser.' }),
  clusterNatsToken: def({ kind: 'string', secret: true, default: '', group: 'Operations', doc: 'Token for the NATS servers (instead of a user name and password).' }),
  clusterNatsTlsCaFile: def({ kind: 'string', default: '', group: 'Operations', doc: 'PEM file of the CA that signs the NATS servers\' certificates (TLS to NATS).' }),
  clusterNatsTlsCertFile: def({ kind: 'string', default: '', group: 'Operations', doc: 'PEM client certificate for NATS servers that require one (with clusterNatsTlsKeyFile).' }),
  clusterNatsTlsKeyFile: def({ kind: 'string', default: '', group: 'Operations', doc: 'PEM private key of clusterNatsTlsCertFile.' }),
  clusterHeartbeatMs: def({ kind: 'int', default: 2000, group: 'Operations', min: 100, max: 60000, doc: 'How often a node tells the others it is alive, in ms; a node silent for three periods is lost (and, with persistence=nats, adopted).' }),
  clusterNodeId: def({ kind: 'string', default: '', group: 'Operations', doc: 'This node\'s id in the cluster (1..64 of A-Z a-z 0-9 _ -), unique per node; empty = host name and a random suffix, new at each start.', item: clusterToken }),
  clusterSubjectPrefix: def({ kind: 'string', default: 'starling', group: 'Operations', doc: 'Start of every NATS subject and of the retained bucket\'s name of the cluster; nodes of one cluster share it.', item: clusterPrefix }),
  clusterRetainedReplicas: def({ kind: 'int', default: 1, group: 'Operations', min: 1, max: 5, doc: 'JetStream replicas of the cluster\'s retained-message bucket when a node creates it (3 with a three-server NATS cluster).' }),
  clusterStreamMaxAgeSec: def({ kind: 'duration', default: 7 * 24 * 3600, group: 'Operations', min: 60, max: 365 * 24 * 3600, doc: 'persistence=nats: how long the cluster\'s stream of QoS 1/2 messages keeps one that a node (lost and never adopted) has not acknowledged, seconds. Applied to the stream at every start.' }),
  clusterStreamMaxBytes: def({ kind: 'size', default: 1024 * MiB, group: 'Operations', min: MiB, doc: 'persistence=nats: most bytes the cluster\'s stream of QoS 1/2 messages holds; beyond it JetStream refuses new messages (their publishers get no acknowledgement). Applied to the stream at every start.' }),
} satisfies Record<string, KeySpec>;

type Schema = typeof schema;
export type ConfigKey = keyof Schema;

type ValueOf<S> = S extends { kind: 'int' | 'duration' | 'size' }
  ? number
  : S extends { kind: 'bool' }
    ? boolean
    : S extends { kind: 'enum'; values: readonly (infer V)[] }
      ? V
      : S extends { kind: 'list'; values: readonly (infer V)[] }
        ? V[]
        : S extends { kind: 'list' }
          ? string[]
          : string;

/** The typed configuration, one property per schema key. */
export type Config = { -readonly [K in ConfigKey]: ValueOf<Schema[K]> };

export const configKeys = Object.keys(schema) as ConfigKey[];

export const specOf = (key: ConfigKey): KeySpec => schema[key];

/** A fresh Config holding every default (lists copied, so callers may mutate theirs). */
export function defaultConfig(): Config {
  const out: Record<string, unknown> = {};
  for (const k of configKeys) {
    const d = schema[k].default;
    out[k] = Array.isArray(d) ? [...d] : d;
  }
  return out as Config;
}
