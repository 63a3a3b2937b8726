// The client registry: which connection currently owns each client id.

import type { BrokerClient } from '../channel/context.js';

/** The part of a connection the registry needs to take it over. */
export type Owner = Pick<BrokerClient, 'clientId' | 'takenOver'>;

export class ClientRegistry<T extends Owner> {
  private readonly byId = new Map<string, T>();

  get size(): number {
    return this.byId.size;
  }

  get(clientId: string): T | undefined {
    return this.byId.get(clientId);
  }

  /** Registers the owner, closing any previous owner of the same id first. */
  claim(owner: T): void {
    const old = this.byId.get(owner.clientId);
    this.byId.set(owner.clientId, owner);
    if (old && old !== owner) old.takenOver();
  }

  /** Unregisters the owner if it still owns its id; false if it was taken over. */
  release(owner: T): boolean {
    if (this.byId.get(owner.clientId) !== owner) return false;
    this.byId.delete(owner.clientId);
    return true;
  }

  values(): IterableIterator<T> {
    return this.byId.values();
  }
}
