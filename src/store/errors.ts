// Errors a store raises. A rejected batch carries a StoreError naming the op that made it invalid;
// open() on a damaged store raises one naming the file or location and what is wrong with it.
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}
