// How each broker under test is started: command line, configuration file and version. All three
// listen on 127.0.0.1 (TCP and WebSocket at /mqtt), take anonymous clients, set TCP_NODELAY,
// allow 100 QoS 1 messages in flight per client and queue up to 100,000 per client (unless a
// scenario asks for each broker's own default limits), and keep sessions durably where they can:
// Starling in SQLite (its default), Mosquitto with `persistence true`; Aedes has in-memory
// persistence only.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../system.js';

export type BrokerName = 'starling' | 'starling-workers' | 'starling-cluster' | 'mosquitto' | 'aedes';
export const BROKER_NAMES: readonly BrokerName[] = ['starling', 'starling-workers', 'starling-cluster', 'mosquitto', 'aedes'];
/**
 * Run unless --broker says otherwise; `starling-workers` (workers=2) is asked for by name.
 * `starling-cluster` (two nodes over nats-server) runs the cross-node scenario only.
 */
export const DEFAULT_BROKERS: readonly BrokerName[] = ['starling', 'starling-cluster', 'mosquitto', 'aedes'];
/** The single-broker scenarios (1-6) run against these. */
export const SINGLE_BROKERS: readonly BrokerName[] = ['starling', 'starling-workers', 'mosquitto', 'aedes'];

export const MOSQUITTO = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';

export interface BrokerCommand {
  command: string;
  args: string[];
  /** How the broker keeps sessions and queued messages, for the report. */
  persistence: string;
}

export interface CommandOptions {
  dir: string;
  tcpPort: number;
  wsPort: number;
  /** The second node's ports (starling-cluster). */
  peer?: { tcp: number; ws: number };
  /** Extra flags for Node-based brokers (e.g. --cpu-prof). */
  nodeFlags: string[];
  /**
   * `bench` (the default): 100 in flight and 100,000 queued per client, so no queue limit is what
   * a throughput scenario measures. `defaults`: each broker's own in-flight and queue limits
   * (Starling 100 / 1,000 with queueOverflowPolicy=backPressure, Mosquitto 20 / 1,000), for a
   * scenario that measures what a default installation does when a subscriber falls behind.
   */
  limits?: BrokerLimits;
}

export type BrokerLimits = 'bench' | 'defaults';

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

export function brokerCommand(name: BrokerName, o: CommandOptions): BrokerCommand {
  switch (name) {
    case 'starling':
    case 'starling-workers': {
      const conf = join(o.dir, 'starling.conf');
      writeFileSync(
        conf,
        [
          `mqttListeners=mqtt://127.0.0.1:${o.tcpPort},ws://127.0.0.1:${o.wsPort}`,
          'persistence=sqlite',
          `dataDir=${join(o.dir, 'data')}`,
          ...(o.limits === 'defaults' ? [] : ['maxInflightMessages=100', 'maxQueuedMessages=100000']),
          'logLevel=warn',
          'logFormat=json',
          name === 'starling-workers' ? 'workers=2' : 'workers=1',
          '',
        ].join('\n'),
      );
      return { command: process.execPath, args: [...o.nodeFlags, here('./starling-entry.js'), conf], persistence: 'SQLite' };
    }
    case 'starling-cluster': {
      if (!o.peer) throw new Error('starling-cluster needs the second node\'s ports');
      const args = [here('./cluster-entry.js'), o.dir, String(o.tcpPort), String(o.wsPort), String(o.peer.tcp), String(o.peer.ws)];
      return { command: process.execPath, args: [...o.nodeFlags, ...args], persistence: 'SQLite per node, nats-server between' };
    }
    case 'mosquitto': {
      const conf = join(o.dir, 'mosquitto.conf');
      const lines = [
        'per_listener_settings false',
        'allow_anonymous true',
        `listener ${o.tcpPort} 127.0.0.1`,
        // Mosquitto 2.0's WebSocket listener (libwebsockets) ignores the bind address: it listens on all interfaces.
        `listener ${o.wsPort} 127.0.0.1`,
        'protocol websockets',
        'set_tcp_nodelay true',
        ...(o.limits === 'defaults' ? [] : ['max_inflight_messages 100', 'max_queued_messages 100000']),
        'max_keepalive 65535',
        'persistence true',
        `persistence_location ${o.dir}/`,
        'log_dest stderr',
        'log_type error',
        'log_type warning',
      ];
      // Started as root, Mosquitto would switch to the `mosquitto` user, which cannot write our temp dir.
      if (process.getuid?.() === 0) lines.push('user root');
      writeFileSync(conf, lines.join('\n') + '\n');
      return { command: MOSQUITTO, args: ['-c', conf], persistence: 'persistence true' };
    }
    case 'aedes':
      return { command: process.execPath, args: [...o.nodeFlags, here('./aedes-entry.js'), String(o.tcpPort), String(o.wsPort)], persistence: 'memory' };
  }
}

function packageVersion(pkgJson: string): string {
  try {
    return (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

export function brokerVersion(name: BrokerName): string {
  switch (name) {
    case 'starling':
    case 'starling-workers':
    case 'starling-cluster':
      return packageVersion(join(repoRoot(), 'package.json'));
    case 'mosquitto': {
      const r = spawnSync(MOSQUITTO, ['-h'], { encoding: 'utf8' });
      return /version (\S+)/.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)?.[1] ?? (r.error ? 'not installed' : '?');
    }
    case 'aedes':
      try {
        return packageVersion(createRequire(import.meta.url).resolve('aedes/package.json'));
      } catch {
        // aedes' exports map does not list package.json; read it from the folder instead.
        return packageVersion(join(repoRoot(), 'node_modules/aedes/package.json'));
      }
  }
}
