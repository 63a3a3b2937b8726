// The console's one MQTT connection, over WebSocket with MQTT.js (bundled, never from a CDN).
// Views listen for status changes and messages; everything runs in the browser.
import mqtt from 'mqtt';
import type { IClientOptions, IClientPublishOptions, IClientSubscribeOptions, MqttClient } from 'mqtt';
import type { Profile } from './profiles';

export type Status = 'disconnected' | 'connecting' | 'connected' | 'reconnecting';

export interface Message {
  topic: string;
  payload: Uint8Array;
  qos: number;
  retain: boolean;
  dup: boolean;
  receivedAt: number;
  properties?: Record<string, unknown>;
}

export interface SubscribeOptions {
  qos: 0 | 1 | 2;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
  subscriptionId?: number;
}

export interface PublishProperties {
  contentType?: string;
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  responseTopic?: string;
  correlationData?: Uint8Array;
  userProperties?: Record<string, string | string[]>;
}

type Listener<T> = (value: T) => void;

/**
 * What the console itself has cost the broker since it loaded: PUBLISH packets and their
 * (estimated) bytes both ways, and its subscriptions (from SUBACK to UNSUBACK). The dashboard subtracts these from
 * the broker's counters so its headline numbers describe everyone else's traffic.
 */
export interface OwnTraffic {
  received: number;
  receivedBytes: number;
  sent: number;
  sentBytes: number;
  subscriptions: Set<string>;
}

/** Bytes of a PUBLISH on the wire, near enough: fixed header, topic, packet id, payload. */
export function publishWireSize(topicChars: number, payloadBytes: number, qos: number): number {
  const rest = 2 + topicChars + (qos > 0 ? 2 : 0) + payloadBytes;
  return 1 + (rest < 128 ? 1 : rest < 16384 ? 2 : rest < 2097152 ? 3 : 4) + rest;
}

/** MQTT 5 reason codes the console explains in words. */
const REASONS: Record<number, string> = {
  0x04: 'disconnect with will message',
  0x10: 'no matching subscribers',
  0x81: 'malformed packet',
  0x82: 'protocol error',
  0x84: 'unsupported protocol version',
  0x85: 'client identifier not valid',
  0x86: 'bad user name or password',
  0x88: 'server unavailable',
  0x89: 'server busy',
  0x8d: 'keep alive timeout',
  0x90: 'topic name invalid',
  0x93: 'receive maximum exceeded',
  0x95: 'packet too large',
  0x9c: 'use another server',
  0x80: 'unspecified error',
  0x83: 'implementation specific error',
  0x87: 'not authorized',
  0x8b: 'server shutting down',
  0x8e: 'session taken over',
  0x8f: 'topic filter invalid',
  0x97: 'quota exceeded',
  0x98: 'administrative action',
  0x9e: 'shared subscriptions not supported',
  0xa1: 'subscription identifiers not supported',
  0xa2: 'wildcard subscriptions not supported',
};

export function reasonText(code: number): string {
  return REASONS[code] ? `${REASONS[code]} (0x${code.toString(16)})` : `reason code 0x${code.toString(16)}`;
}

export class Connection {
  status: Status = 'disconnected';
  /** Human-readable detail of the last status change (errors, server disconnect reasons). */
  detail = '';
  profile?: Profile;
  sessionPresent = false;
  /** The last attempt ended before any CONNACK, with no MQTT-level reason: the transport failed. */
  transportFailed = false;
  readonly own: OwnTraffic = { received: 0, receivedBytes: 0, sent: 0, sentBytes: 0, subscriptions: new Set() };
  private client?: MqttClient;
  private readonly statusListeners = new Set<Listener<Connection>>();
  private readonly messageListeners = new Set<Listener<Message>>();

  onStatus(fn: Listener<Connection>): void {
    this.statusListeners.add(fn);
  }
  onMessage(fn: Listener<Message>): void {
    this.messageListeners.add(fn);
  }

  get version(): 4 | 5 {
    return this.profile?.protocolVersion ?? 4;
  }

  private setStatus(status: Status, detail = ''): void {
    this.status = status;
    this.detail = detail;
    for (const fn of this.statusListeners) fn(this);
  }

  connect(profile: Profile): void {
    this.disconnect(true);
    this.profile = profile;
    const options: IClientOptions = {
      clientId: profile.clientId,
      protocolVersion: profile.protocolVersion,
      keepalive: profile.keepalive,
      clean: profile.clean,
      reconnectPeriod: profile.autoReconnect ? 3000 : 0,
      connectTimeout: 15_000,
      // MQTT.js rebuilds a WebSocket URL from its parts and drops the brackets of an IPv6 host
      // (ws://::1:8083/mqtt); put them back.
      transformWsUrl: bracketIpv6,
    };
    if (profile.username) options.username = profile.username;
    if (profile.password) options.password = profile.password;
    if (profile.protocolVersion === 5 && profile.sessionExpiry > 0) options.properties = { sessionExpiryInterval: profile.sessionExpiry };
    if (profile.will.enabled && profile.will.topic) {
      options.will = { topic: profile.will.topic, payload: profile.will.payload, qos: profile.will.qos, retain: profile.will.retain };
      if (profile.protocolVersion === 5 && profile.will.delay > 0) options.will.properties = { willDelayInterval: profile.will.delay };
    }
    this.transportFailed = false;
    let acknowledged = false;
    this.setStatus('connecting', profile.url);
    let client: MqttClient;
    try {
      client = mqtt.connect(profile.url, options);
    } catch (err) {
      this.setStatus('disconnected', `could not connect: ${(err as Error).message}`);
      return;
    }
    this.client = client;
    const mine = (fn: (...args: any[]) => void) => (...args: any[]) => {
      if (this.client === client) fn(...args);
    };
    client.on('connect', mine((connack: { sessionPresent?: boolean }) => {
      acknowledged = true;
      this.sessionPresent = Boolean(connack.sessionPresent);
      if (!this.sessionPresent) this.own.subscriptions.clear();
      this.setStatus('connected', profile.url);
    }));
    client.on('reconnect', mine(() => this.setStatus('reconnecting', profile.url)));
    client.on('error', mine((err: Error) => this.setStatus(this.status, `error: ${err.message}`)));
    client.on('disconnect', mine((packet: { reasonCode?: number }) => {
      this.detail = `the server disconnected this client: ${reasonText(packet.reasonCode ?? 0)}`;
    }));
    client.on('close', mine(() => {
      if (client.reconnecting || (profile.autoReconnect && !client.disconnecting)) return;
      const mqttReason = this.detail.startsWith('the server') || /^error: Connection refused/i.test(this.detail);
      const why = this.detail.startsWith('the server') || this.detail.startsWith('error') ? this.detail : 'connection closed';
      this.transportFailed = !acknowledged && !mqttReason;
      this.setStatus('disconnected', this.transportFailed ? 'could not connect' : why);
    }));
    client.on('message', mine((topic: string, payload: Uint8Array, packet: { qos: number; retain: boolean; dup: boolean; properties?: Record<string, unknown> }) => {
      this.own.received++;
      this.own.receivedBytes += publishWireSize(topic.length, payload.length, packet.qos);
      const m: Message = { topic, payload, qos: packet.qos, retain: packet.retain, dup: packet.dup, receivedAt: Date.now() };
      if (packet.properties) m.properties = packet.properties;
      for (const fn of this.messageListeners) fn(m);
    }));
  }

  disconnect(quiet = false): void {
    const client = this.client;
    this.client = undefined;
    if (client) client.end(false);
    if (!quiet) this.setStatus('disconnected', 'disconnected');
  }

  private requireClient(): MqttClient {
    if (!this.client || this.status !== 'connected') throw new Error('not connected');
    return this.client;
  }

  /** Resolves with the granted QoS (or reason code ≥ 0x80). */
  subscribe(filter: string, o: SubscribeOptions): Promise<number> {
    const client = this.requireClient();
    const opts: IClientSubscribeOptions = { qos: o.qos };
    if (this.version === 5) {
      if (o.noLocal) opts.nl = true;
      if (o.retainAsPublished) opts.rap = true;
      if (o.retainHandling) opts.rh = o.retainHandling;
      if (o.subscriptionId) opts.properties = { subscriptionIdentifier: o.subscriptionId };
    }
    return new Promise((resolve, reject) => {
      client.subscribe(filter, opts, (err, granted) => {
        if (err) return reject(err);
        const qos = granted?.[0]?.qos ?? 0x80;
        if (qos < 0x80) this.own.subscriptions.add(filter);
        resolve(qos);
      });
    });
  }

  unsubscribe(filter: string): Promise<void> {
    const client = this.requireClient();
    // Still the console's own until UNSUBACK: a $SYS sample that arrives before it counted it.
    return new Promise((resolve, reject) =>
      client.unsubscribe(filter, (err?: Error) => {
        if (err) return reject(err);
        this.own.subscriptions.delete(filter);
        resolve();
      }),
    );
  }

  publish(topic: string, payload: Uint8Array, qos: 0 | 1 | 2, retain: boolean, properties?: PublishProperties): Promise<void> {
    const client = this.requireClient();
    const opts: IClientPublishOptions = { qos, retain };
    if (this.version === 5 && properties) opts.properties = properties as IClientPublishOptions['properties'];
    this.own.sent++;
    this.own.sentBytes += publishWireSize(topic.length, payload.length, qos);
    // MQTT.js's browser build writes any Uint8Array as the payload bytes.
    return new Promise((resolve, reject) =>
      client.publish(topic, payload as unknown as string, opts, (err?: Error) => (err ? reject(err) : resolve())),
    );
  }
}

/** `ws://::1:8083/mqtt` → `ws://[::1]:8083/mqtt` (MQTT.js's `transformWsUrl` hook). */
function bracketIpv6(url: string, opts: { hostname?: string }): string {
  const h = opts.hostname;
  return h && h.includes(':') && !h.startsWith('[') ? url.replace(`//${h}:`, `//[${h}]:`) : url;
}
