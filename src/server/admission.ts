// Admission: how many connections the broker takes in total and from one address, so a flood
// from one source cannot use up the descriptors everyone else needs.

export class Admission {
  private total = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerAddress: number,
  ) {}

  /**
   * Reserves a place for a connection from `address`. Returns the limit that refuses it (so the
   * refusal is counted by cause), or undefined when it was admitted.
   */
  refusal(address: string): 'maxConnections' | 'maxConnectionsPerAddress' | undefined {
    if (this.maxTotal > 0 && this.total >= this.maxTotal) return 'maxConnections';
    const n = this.byAddress.get(address) ?? 0;
    if (this.maxPerAddress > 0 && n >= this.maxPerAddress) return 'maxConnectionsPerAddress';
    this.total++;
    this.byAddress.set(address, n + 1);
    return undefined;
  }

  release(address: string): void {
    this.total--;
    const n = (this.byAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.byAddress.delete(address);
    else this.byAddress.set(address, n);
  }
}
