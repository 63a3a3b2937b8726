// UTF-8 well-formedness for payloads marked as UTF-8 (Payload Format Indicator 1).
import { isUtf8 } from 'node:buffer';

/** True when the bytes are well-formed UTF-8 (Payload Format Indicator, 3.3.2.3.2). */
export function isWellFormedUtf8(bytes: Buffer): boolean {
  return isUtf8(bytes);
}

/** Whether a JS string has no lone surrogate, so it survives UTF-8 unchanged (String#isWellFormed, which Node 20 has and the TypeScript lib this project targets does not declare). */
export const isWellFormedString = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();
