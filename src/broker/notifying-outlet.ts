// A session's outlet that tells the library's notifications what became of each delivery. Put in
// place by Queues.attach only when `delivered` or `dropped` is set: without them the session keeps
// the connection itself as its outlet and the fan-out path is exactly what it was.
import type { SessionOutlet } from '../session/session.js';
import type { Delivery } from '../session/delivery.js';
import type { BrokerNotifications } from '../hooks/hooks.js';
import type { BrokerStats } from './stats.js';

export function notifyingOutlet(
  outlet: SessionOutlet,
  clientId: string,
  stats: BrokerStats,
  notify: Partial<Pick<BrokerNotifications, 'delivered' | 'dropped'>>,
): SessionOutlet {
  return {
    get writable() {
      return outlet.writable;
    },
    unbuffered: outlet.unbuffered === true,
    deliver(delivery: Delivery) {
      // The connection counts what it sends and what it drops; the counters say which happened.
      const sent = stats.publishSent;
      const slow = stats.drops.slowConsumer;
      const large = stats.drops.tooLarge;
      outlet.deliver(delivery);
      const { message } = delivery;
      if (stats.publishSent !== sent) {
        // QoS 1/2 are delivered when acknowledged (Queues.completed), not when sent.
        if (delivery.qos === 0) notify.delivered?.(clientId, message, 0);
      } else if (stats.drops.slowConsumer !== slow) notify.dropped?.('slowConsumer', message, clientId);
      else if (stats.drops.tooLarge !== large) notify.dropped?.('tooLarge', message, clientId);
    },
    pubrel: (packetId: number) => outlet.pubrel(packetId),
  };
}
