// The library's hooks (types.ts Hooks) made into the broker's hook points (src/hooks/hooks.ts).
// Each is added after what the configuration decides (password file, ACL): a configured refusal
// stands, and only what it allowed reaches the application's hook. A hook that throws, rejects or
// outlasts the timeout is logged and answered with 0x83 for that operation only.
import type { Logger } from 'pino';
import type { BrokerHooks, BrokerNotifications, ClientInfo, Decision, Verdict } from '../hooks/hooks.js';
import { codeOf } from '../hooks/hooks.js';
import { andThen } from '../protocol/maybe-promise.js';
import type { ConnectPacket, PublishPacket } from '../protocol/packets.js';
import type { StoredMessage } from '../store/ports.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { QoS } from '../protocol/constants.js';
import { packetMessage, publicMessage, storedMessage } from './messages.js';
import type { Awaitable, Client, Hooks } from './types.js';
import { didYouMean } from '../config/errors.js';

/** Every hook of types.ts Hooks (test/api/docs.test.ts compares the two). */
export const HOOK_NAMES: readonly (keyof Hooks)[] = [
  'authenticate',
  'authorizePublish',
  'authorizeSubscribe',
  'interceptPublish',
  'clientConnected',
  'clientDisconnected',
  'subscribed',
  'unsubscribed',
  'messageDelivered',
  'messageDropped',
];

/** A misspelt hook would never be called: refused up front, with the name meant. */
export function checkHooks(hooks: unknown): asserts hooks is Hooks {
  if (typeof hooks !== 'object' || hooks === null) throw new TypeError('hooks is an object of functions');
  for (const [name, fn] of Object.entries(hooks)) {
    if (!(HOOK_NAMES as readonly string[]).includes(name)) throw new TypeError(`hooks: unknown hook "${name}"${didYouMean(name, HOOK_NAMES)}`);
    if (fn !== undefined && typeof fn !== 'function') throw new TypeError(`hooks.${name} must be a function`);
  }
}

export interface HookContext {
  log: Logger;
  timeoutMs: number;
  now(): number;
  limits: { maxTopicLength: number; maxTopicLevels: number };
}

/** The hook points the library fills, made from the configured ones. */
export function brokerHooks(hooks: Hooks, ctx: HookContext): (configured: Partial<BrokerHooks>) => Partial<BrokerHooks> {
  const ask = asker(ctx);
  const tell = teller(ctx);
  return (configured) => {
    const out: Partial<BrokerHooks> = {};
    const notify: Partial<BrokerNotifications> = {};
    const dropped = hooks.messageDropped?.bind(hooks);
    const toldDropped = dropped
      ? (reason: Parameters<BrokerNotifications['dropped']>[0], m: StoredMessage | undefined, clientId: string | undefined) =>
          tell('messageDropped', () => dropped({ reason, ...(m ? { message: publicMessage(m, ctx.now()) } : {}), ...(clientId !== undefined ? { clientId } : {}) }))
      : undefined;

    const authenticate = hooks.authenticate?.bind(hooks);
    if (authenticate) {
      const base = configured.authenticate;
      const decide = (client: ClientInfo, packet: ConnectPacket): Awaitable<Decision> =>
        ask('authenticate', client.clientId, () => authenticate(clientOf(client), credentialsOf(packet)), authenticateCode);
      out.authenticate = (client, packet) => {
        const first = base ? base(client, packet) : ReasonCode.Success;
        return andThen(first, (d) => (d === ReasonCode.Success ? decide(client, packet) : d));
      };
    }

    const authorizePublish = hooks.authorizePublish?.bind(hooks);
    if (authorizePublish) {
      const base = configured.authorizePublish;
      const decide = (client: ClientInfo, topic: string, packet: PublishPacket | undefined): Awaitable<Decision | Verdict> =>
        ask('authorizePublish', client.clientId, () => authorizePublish(clientOf(client), packetMessage(packet ?? EMPTY, topic)), publishVerdict);
      out.authorizePublish = (client, topic, packet) => {
        const first = base ? base(client, topic, packet) : ReasonCode.Success;
        return andThen(first, (d) => (codeOf(d) === ReasonCode.Success ? decide(client, topic, packet) : d));
      };
    }

    const authorizeSubscribe = hooks.authorizeSubscribe?.bind(hooks);
    if (authorizeSubscribe) {
      const base = configured.authorizeSubscribe;
      out.authorizeSubscribe = (client, filter, qos) => {
        const first = base ? base(client, filter, qos) : ReasonCode.Success;
        // No QoS: a subscription a session already holds is re-checked (src/broker/reauthorize.ts),
        // which cannot wait; the configured rules alone answer that.
        if (qos === undefined || first instanceof Promise || codeOf(first) !== ReasonCode.Success) return first;
        return ask('authorizeSubscribe', client.clientId, () => authorizeSubscribe(clientOf(client), { filter, qos }), subscribeVerdict);
      };
    }

    const intercept = hooks.interceptPublish?.bind(hooks);
    if (intercept) {
      out.interceptPublish = (client, message) =>
        ask(
          'interceptPublish',
          client.clientId,
          () => intercept(clientOf(client), publicMessage(message, ctx.now())),
          (answer) => {
            if (answer === undefined) return message;
            if (answer === null) {
              toldDropped?.('intercepted', message, undefined);
              return null;
            }
            // A changed message is checked as a client's PUBLISH would be; it keeps the original's id and publisher.
            return storedMessage(answer, ctx.limits, message.id, message.createdAt, message.publisherId);
          },
        );
    }

    const connected = hooks.clientConnected?.bind(hooks);
    if (connected) notify.connected = (c) => tell('clientConnected', () => connected(clientOf(c)));
    const disconnected = hooks.clientDisconnected?.bind(hooks);
    if (disconnected) notify.disconnected = (c, reason) => tell('clientDisconnected', () => disconnected(clientOf(c), reason));
    const subscribed = hooks.subscribed?.bind(hooks);
    if (subscribed) notify.subscribed = (c, subs) => tell('subscribed', () => subscribed(clientOf(c), subs.map((s) => ({ filter: s.filter, qos: s.qos }))));
    const unsubscribed = hooks.unsubscribed?.bind(hooks);
    if (unsubscribed) notify.unsubscribed = (c, filters) => tell('unsubscribed', () => unsubscribed(clientOf(c), [...filters]));
    const delivered = hooks.messageDelivered?.bind(hooks);
    if (delivered) notify.delivered = (clientId, m, qos) => tell('messageDelivered', () => delivered(clientId, { ...publicMessage(m, ctx.now()), qos }));
    if (toldDropped) {
      notify.dropped = toldDropped;
      // Refused publishes are drops too; the hook point that refuses them tells.
      const decided = out.authorizePublish ?? configured.authorizePublish;
      if (decided) out.authorizePublish = droppingRefusals(decided, toldDropped, ctx);
    }
    if (Object.keys(notify).length > 0) out.notify = notify;
    return out;
  };
}

const EMPTY = { payload: Buffer.alloc(0), qos: 0 as QoS, retain: false };

/** Tells `messageDropped` about each publish refused (a will refused at CONNECT is not a message lost). */
function droppingRefusals(
  decide: BrokerHooks['authorizePublish'],
  told: (reason: 'notAuthorized', m: StoredMessage | undefined, clientId: string | undefined) => void,
  ctx: HookContext,
): BrokerHooks['authorizePublish'] {
  return (client, topic, packet) => {
    const tellIfRefused = (d: Decision | Verdict): Decision | Verdict => {
      if (packet && codeOf(d) !== ReasonCode.Success) {
        const m = packetMessage(packet, topic);
        told('notAuthorized', { ...m, id: '', createdAt: ctx.now(), properties: packet.properties }, undefined);
      }
      return d;
    };
    const d = decide(client, topic, packet);
    return andThen(d, tellIfRefused);
  };
}

export function clientOf(info: ClientInfo): Client {
  const c: Client = { clientId: info.clientId, remoteAddress: info.remoteAddress, listener: info.listener.url };
  if (info.username !== undefined) c.username = info.username;
  return c;
}

function credentialsOf(packet: ConnectPacket): Parameters<NonNullable<Hooks['authenticate']>>[1] {
  return {
    ...(packet.username !== undefined ? { username: packet.username } : {}),
    ...(packet.password !== undefined ? { password: packet.password } : {}),
    protocolVersion: packet.protocolVersion,
    clean: packet.clean,
  };
}

const refusalCode = (code: unknown): number => {
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 0x80 || code > 0xff) {
    throw new TypeError(`a refusal's reasonCode is an MQTT 5 failure code, 0x80 to 0xFF (got ${String(code)})`);
  }
  return code;
};

function authenticateCode(r: unknown): Decision {
  if (r === true) return ReasonCode.Success;
  if (r === false) return ReasonCode.BadUserNameOrPassword;
  if (typeof r === 'object' && r !== null && 'reasonCode' in r) return refusalCode(r.reasonCode);
  throw new TypeError('authenticate must answer true, false or { reasonCode }');
}

function publishVerdict(r: unknown): Decision | Verdict {
  if (r === true) return ReasonCode.Success;
  if (r === false) return ReasonCode.NotAuthorized;
  if (typeof r === 'object' && r !== null && 'reasonCode' in r) {
    const v: Verdict = { code: refusalCode(r.reasonCode) };
    if ('reasonString' in r && typeof r.reasonString === 'string') v.reasonString = r.reasonString;
    return v;
  }
  throw new TypeError('authorizePublish must answer true, false or { reasonCode, reasonString? }');
}

function subscribeVerdict(r: unknown): Decision | Verdict {
  if (typeof r === 'object' && r !== null && 'qos' in r && !('reasonCode' in r)) {
    if (r.qos !== 0 && r.qos !== 1 && r.qos !== 2) throw new TypeError('authorizeSubscribe: qos must be 0, 1 or 2');
    return { code: ReasonCode.Success, qos: r.qos };
  }
  return publishVerdict(r);
}

/**
 * Runs a deciding hook: an answer given at once is used at once (no Promise on the path); a later
 * one is raced against the timeout. Any failure, including an answer `map` cannot read, is 0x83.
 */
function asker(ctx: HookContext) {
  return <R, T>(name: string, clientId: string, call: () => Awaitable<R>, map: (r: R) => T): T | Decision | Promise<T | Decision> => {
    const fault = (err: unknown): Decision => {
      ctx.log.error({ err, hook: name, clientId }, `${name} hook failed; the operation is refused with 0x83`);
      return ReasonCode.ImplementationSpecificError;
    };
    let answer: Awaitable<R>;
    try {
      answer = call();
    } catch (err) {
      return fault(err);
    }
    if (!isThenable(answer)) {
      try {
        return map(answer);
      } catch (err) {
        return fault(err);
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ctx.timeoutMs} ms (hookTimeoutMs)`)), ctx.timeoutMs);
    });
    return Promise.race([Promise.resolve(answer), late]).then(map).catch(fault).finally(() => clearTimeout(timer));
  };
}

/** Runs a notification after the broker's current step, never inside it; failures are logged. */
function teller(ctx: HookContext) {
  return (name: string, call: () => Awaitable<void>): void => {
    queueMicrotask(() => {
      const failed = (err: unknown): void => ctx.log.error({ err, hook: name }, `${name} hook failed`);
      try {
        const r = call();
        if (isThenable(r)) Promise.resolve(r).catch(failed);
      } catch (err) {
        failed(err);
      }
    });
  };
}

/** A Promise, or any promise-like an application's library returns. */
export const isThenable = <T>(v: Awaitable<T>): v is PromiseLike<T> & Promise<T> =>
  typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
