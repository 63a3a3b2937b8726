// In-process subscriptions: the application as a trusted local client. Each subscription is a
// session of its own, never stored and never listed as a client; the configured ACL and the
// authorize hooks are not asked, topic syntax and limits are.
import type { Logger } from 'pino';
import type { Broker } from '../broker/broker.js';
import { Session } from '../session/session.js';
import type { Delivery } from '../session/delivery.js';
import { catchLater } from '../protocol/maybe-promise.js';
import { parseSharedFilter, validateTopicFilter } from '../protocol/topic.js';
import { withinTopicLimits } from '../channel/limits.js';
import type { SubscriptionRecord } from '../store/ports.js';
import { publicMessage } from './messages.js';
import { isThenable } from './hooks.js';
import type { MessageHandler, QoS } from './types.js';

export interface LocalSubscriptions {
  subscribe(filter: string, handler: MessageHandler, qos: QoS): () => void;
  /** Ends every subscription (the broker is closing). */
  close(): void;
}

export function localSubscriptions(broker: Broker, log: Logger): LocalSubscriptions {
  let n = 0;
  const open = new Set<() => void>();
  return {
    subscribe(filter, handler, qos) {
      if (typeof handler !== 'function') throw new TypeError('subscribe needs a handler function');
      if (typeof filter !== 'string') throw new TypeError('the topic filter must be a string');
      try {
        validateTopicFilter(filter);
        parseSharedFilter(filter);
      } catch (err) {
        throw new TypeError(`topic filter ${JSON.stringify(filter)}: ${(err as Error).message}`);
      }
      if (!withinTopicLimits(filter, broker.options)) throw new TypeError(`topic filter ${JSON.stringify(filter)} is longer or deeper than maxTopicLength / maxTopicLevels allow`);
      const session = new Session(`$local-${++n}`, 5, 0);
      const run = (message: Delivery['message'], retain: boolean): void => {
        // Never inside the broker's routing step: the handler may publish, throw or take its time.
        queueMicrotask(() => {
          const failed = (err: unknown): void => log.error({ err, filter }, 'in-process subscription handler failed');
          try {
            const r = handler(publicMessage(message, broker.now(), retain));
            if (isThenable(r)) Promise.resolve(r).catch(failed);
          } catch (err) {
            failed(err);
          }
        });
      };
      // Delivered at QoS 0 (straight from routing, nothing queued) whatever QoS it was sent with:
      // the handler runs in this process, there is no link to lose it on. The handler is told the
      // message's QoS capped by `qos`, as a subscription's QoS caps a client's; retain as published.
      const sub: SubscriptionRecord = { filter, qos: 0, noLocal: false, retainAsPublished: true, retainHandling: 0 };
      session.outlet = {
        writable: true,
        unbuffered: true,
        deliver: ({ message: m, retain }) => run(m.qos > qos ? { ...m, qos } : m, retain),
        pubrel: () => {},
      };
      const added = broker.subscribe(session, [sub]);
      catchLater(added, (err) => log.error({ err, filter }, 'in-process subscription failed'));
      broker.deliverRetained(session, sub, true);
      let done = false;
      const unsubscribe = (): void => {
        if (done) return;
        done = true;
        open.delete(unsubscribe);
        session.outlet = undefined;
        const r = broker.unsubscribe(session, [filter]);
        catchLater(r, (err) => log.error({ err, filter }, 'in-process unsubscribe failed'));
      };
      open.add(unsubscribe);
      return unsubscribe;
    },
    close() {
      for (const u of [...open]) u();
    },
  };
}
