// MemoryStore against the shared store contract.
import { storeContract } from './contract.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';

storeContract('MemoryStore', async () => {
  let store = new MemoryStore();
  return {
    store,
    reopen: async () => {
      await store.close();
      store = new MemoryStore(); // not durable: a new process would start with nothing
      return store;
    },
    cleanup: async () => {
      await store.close();
    },
  };
});
