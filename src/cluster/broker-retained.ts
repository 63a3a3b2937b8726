// The broker's retained index as the cluster link's start-up needs it (retained-copy.ts: LocalRetained).
// `routeRemote` with the retain flag would also deliver each loaded message to matching subscribers,
// including offline persistent sessions recovered from the store, as if it had just been published;
// this adapter changes the index and the local store only. It uses the broker's public members; a
// dedicated broker method (applyRetained) would make it unnecessary.
import type { Broker } from '../broker/broker.js';
import type { StoredMessage } from '../store/ports.js';
import type { LocalRetained } from './retained-copy.js';

export function brokerRetained(broker: Broker): LocalRetained {
  const failed = (err: unknown): void => broker.log.error({ err }, 'cluster: storing a retained message failed');
  return {
    list: () => [...broker.retained.all()],
    get: (topic) => broker.retained.get(topic),
    set: (message: StoredMessage) => {
      // The same budgets as a publish (count and bytes), through the same check.
      if (!broker.admitsRetained(message)) return;
      const stored: StoredMessage = { ...message };
      delete stored.publisherId;
      broker.retained.set(stored);
      broker.write([{ op: 'retained.put', message: stored }]).catch(failed);
    },
    delete: (topic) => {
      if (broker.retained.delete(topic)) broker.write([{ op: 'retained.delete', topic }]).catch(failed);
    },
  };
}
