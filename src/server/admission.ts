// Admission: how many connections the broker takes in total and from one address, so a flood
// from one source cannot use up the descriptors everyone else needs.

export class Admission {
  private total = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerAddress: number,
  ) {}

  /** Reserves a place for a connection from `address`; false when a limit is reached. */
  admit(address: string): boolean {
    if (this.maxTotal > 0 && this.total >= this.maxTotal) return false;
    const n = this.byAddress.get(address) ?? 0;
    if (this.maxPerAddress > 0 && n >= this.maxPerAddress) return false;
    this.total++;
    this.byAddress.set(address, n + 1);
    return true;
  }

  release(address: string): void {
    this.total--;
    const n = (this.byAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.byAddress.delete(address);
    else this.byAddress.set(address, n);
  }
}
