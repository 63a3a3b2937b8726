// docs/configuration.md, rendered from the schema table. A test compares the committed file with
// this output; regenerate with `node bin/starling.js config --doc > docs/configuration.md`.
import { configKeys, schema, type ConfigKey, type Group, type KeySpec } from './schema.js';
import { envName, flagName } from './names.js';

const GROUP_NOTES: Partial<Record<Group, string>> = {
  Listeners: `A listener URL is \`scheme://host:port\`. Schemes: \`mqtt\` (MQTT over TCP), \`mqtt+ssl\` or \`mqtts\` (MQTT over TLS),
\`mqtt+ssl+psk\` (TLS with pre-shared keys, no certificates), \`ws\` (MQTT over WebSocket), \`ws+ssl\` or \`wss\`
(over secure WebSocket). \`tcp://\`, \`ssl://\`, \`http://\` and the like are refused with the right spelling.
Hosts: \`127.0.0.1\` (this machine only), \`0.0.0.0\` (every IPv4 interface), \`[::1]\`, \`[::]\`, or a name.
A missing port means the usual one (1883, 8883, 8083, 8084; \`mqtt+ssl+psk\` has none and needs one);
port 0 lets the system choose. A \`ws://\` or \`ws+ssl://\` URL may carry its own path
(\`ws://0.0.0.0:8083/mqtt\`), overriding \`webSocketPath\` for that listener.

When the server starts it prints, and logs (\`listening on …\`, with the bound port), the URL to give clients for each
listener, e.g. \`ws://127.0.0.1:8083/mqtt\`.
A client that uses the wrong scheme for a port (TLS to a plain port, plain MQTT to a TLS or WebSocket port,
a WebSocket to an MQTT port) is closed with one log line naming the listener and the URL that would work.`,
  TLS: `TLS listeners without \`mqttTlsCertificateFilePath\` use a development certificate generated on first
start into \`<dataDir>/certs\` (a local CA, a server certificate for localhost, 127.0.0.1 and ::1, and a client
certificate). \`starling certs --out DIR --host NAME\` makes the same set with NAME added to those three. Browsers only
accept \`wss://\` with it after \`ca.crt\` is added to their trust store.

Client certificates are requested only when \`mqttTlsRequireTrustedClientCertOnConnect\` is on or
\`mqttAuthenticationMethods\` includes \`mtls\`: asking every client would make browsers that hold client
certificates show a certificate picker on each \`wss://\` connection. Certificate rotation: replace the files;
within \`mqttTlsCertRefreshCheckDurationSec\` new connections get the new certificate, open ones stay up.`,
  'TLS-PSK': `PSK listeners (\`mqtt+ssl+psk://\`) authenticate with the pre-shared key alone and present no certificate.
A secret is used as its UTF-8 bytes: \`dev1:secret\` here matches \`mosquitto_pub --psk-identity dev1 --psk 736563726574\`.
TLS 1.2 PSK cipher suites are enabled on these listeners unless \`mqttTlsCiphers\` says otherwise; TLS 1.3 PSK works too.`,
  WebSocket: `WebSocket subprotocols: a client offering \`mqtt\` gets \`mqtt\` ([MQTT-6.0.0-4]); one offering only
\`mqttv3.1\`, \`mqttv3.1.1\` or \`mqttv5.0\` gets the first of those it offered (a browser fails the handshake if
the server answers with a subprotocol it did not offer); one offering none is accepted without a subprotocol
(RFC 6455 forbids answering one); one offering only unknown subprotocols is refused with HTTP 400.
Only binary frames carry MQTT: a text frame closes the connection with code 1003 ([MQTT-6.0.0-1]). Frames are a
byte stream: several packets in one frame and one packet over several frames both work. Compression
(permessage-deflate) is off. An upgrade on another path gets HTTP 404 naming the right path; a wrong Origin gets 403; an upgrade that is not a GET gets 405, and one with a \`Sec-WebSocket-Version\` other than 13 gets 426 naming 13 (RFC 6455; the older drafts' version 8 is refused). A frame larger than \`webSocketMaxFrameSize\` closes the connection with code 1009, a protocol violation (an unmasked frame, a stray continuation, an oversized control frame, a bad close code) with 1002, and a close reason that is not UTF-8 with 1007; after the broker's own close frame a client has 10 s to close before the connection is dropped.
Plain HTTP on these ports: \`GET /\` is a page with the URL to connect to, \`GET /healthz\` answers \`ok\`.`,
  MQTT: `\`mqttMessageMaxLength\` defaults to 1 MiB: large enough for JSON documents, images from small cameras
and firmware chunks, small enough that one client cannot make the broker buffer the protocol's 256 MiB maximum.
It is the Maximum Packet Size advertised to MQTT 5 clients; raise it for bigger payloads (and \`maxClientMemory\`
to at least twice it). The per-client limits below have protective defaults (Receive Maximum 32, 10 topic aliases
each way, 32 User Properties per packet, 1000 subscriptions, 8 MiB per connection): see docs/security.md.`,
};

const esc = (s: string): string => s.replace(/\|/g, '\\|');

function defaultText(spec: KeySpec): string {
  const d = spec.default;
  if (Array.isArray(d)) return d.length === 0 ? '*(empty)*' : `\`${d.join(',')}\``;
  if (d === '') return '*(empty)*';
  if (spec.kind === 'size' && typeof d === 'number' && d > 0) {
    // Written as a user would write it: 1MiB rather than 1048576.
    if (d % 1024 ** 2 === 0) return `\`${d / 1024 ** 2}MiB\``;
    if (d % 1024 === 0) return `\`${d / 1024}KiB\``;
  }
  return `\`${String(d)}\``;
}

function typeText(spec: KeySpec): string {
  if (spec.kind === 'enum') return `one of ${(spec.values ?? []).join(' \\| ')}`;
  if (spec.kind === 'list' && spec.values) return `list of ${spec.values.join(' \\| ')}`;
  return { duration: 'seconds', size: 'bytes', int: 'integer', bool: 'boolean' }[spec.kind as string] ?? spec.kind;
}

export function renderConfigurationDoc(): string {
  const groups = new Map<Group, ConfigKey[]>();
  for (const key of configKeys) {
    const g = schema[key].group;
    groups.set(g, [...(groups.get(g) ?? []), key]);
  }
  const out: string[] = [
    '# Configuration',
    '',
    '<!-- Generated from src/config/schema.ts by `starling config --doc`; edit the schema, not this file. -->',
    '',
    'Starling reads settings from, in increasing precedence: built-in defaults, a config file',
    '(`starling start --config starling.conf`), environment variables (`STARLING_` + the key in upper snake',
    'case) and command-line flags (the key in kebab case). Every setting has all three spellings:',
    '`mqttListeners` in the file, `STARLING_MQTT_LISTENERS` in the environment, `--mqtt-listeners` on the command line.',
    '`STARLING_CONFIG` names the config file when `--config` is not given.',
    '',
    'The file holds one `key=value` per line. `#` starts a comment line; blank lines are ignored; spaces',
    'around the key and the value are trimmed; the value runs to the end of the line and may contain `=`;',
    'an empty value means the default. Lists are comma-separated. Durations are seconds, or take a unit',
    '(`30s`, `5m`, `1h`). Sizes are bytes, or take a binary unit (`64KiB`, `1MiB`; `KB`/`MB` mean the same).',
    'Booleans are `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`). Relative paths are relative to the',
    'working directory.',
    '',
    'An unknown key or a bad value stops start-up with the file, line and key, and the closest known key',
    'for a typo, e.g. `starling.conf:7: mqttListeners: unknown scheme "tcp" (use mqtt://, mqtt+ssl://, ws://, ws+ssl://; ...)`.',
    'A key set on more than one line of the file is not an error: the later line wins, and start-up logs a',
    'warning naming both lines, e.g. `starling.conf:4: sysIntervalSec is also set on line 3; the later line wins`.',
    'A value from the environment or a flag overrides the file\'s without a warning: that is the precedence above.',
    '`starling config --config FILE` prints the effective settings and where each came from, and the warnings;',
    'it exits 2 on errors and 1 on warnings, so a deployment script can refuse a file with a duplicate key.',
    '',
  ];
  for (const [group, keys] of groups) {
    out.push(`## ${group}`, '');
    const note = GROUP_NOTES[group];
    if (note) out.push(note, '');
    out.push('| Key | Type | Default | Meaning |', '|---|---|---|---|');
    for (const key of keys) {
      const spec: KeySpec = schema[key];
      out.push(`| \`${key}\`<br>\`${envName(key)}\`<br>\`${flagName(key)}\` | ${typeText(spec)} | ${esc(defaultText(spec))} | ${esc(spec.doc)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
