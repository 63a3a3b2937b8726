// Shared by the pack format tests (packs.test.ts, entry-packs.test.ts): a pack made of any items,
// then damaged, is read as it was or refused with a StoreError naming it, never read as something
// else or failing with an error that names neither file nor pack.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StoreError } from '../../src/store/errors.js';

/** Whether `err` is the refusal of a pack named `name` ("pack 1", "entry pack 1"). */
export const refusedAs =
  (name: string) =>
  (err: unknown): boolean =>
    err instanceof StoreError && err.message.startsWith(`${name} is corrupt: `);

/**
 * The property: `pack` of any `items` with bytes changed may still be read by `read` (a byte of a
 * payload, say) or is refused; cut off anywhere, or with bytes after its last item, it is always refused.
 */
export function damagedPacksRefused<T>(items: fc.Arbitrary<T[]>, pack: (items: T[]) => Buffer, read: (data: Buffer) => unknown, name: string): void {
  const refused = refusedAs(name);
  fc.assert(
    fc.property(
      items,
      fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 }),
      fc.nat(),
      fc.uint8Array({ minLength: 1, maxLength: 8 }),
      (xs, edits, cut, extra) => {
        const good = pack(xs);
        const changed = Buffer.from(good);
        for (const { at, byte } of edits) changed[at % good.length] = byte;
        try {
          read(changed);
        } catch (err) {
          assert.ok(refused(err), `${(err as Error).name}: ${(err as Error).message}`);
        }
        assert.throws(() => read(good.subarray(0, cut % good.length)), refused);
        assert.throws(() => read(Buffer.concat([good, Buffer.from(extra)])), refused);
      },
    ),
    { numRuns: 500 },
  );
}
