// UTF-8 well-formedness for payloads marked as UTF-8 (Payload Format Indicator 1).
import { isUtf8 } from 'node:buffer';

/** True when the bytes are well-formed UTF-8 (Payload Format Indicator, 3.3.2.3.2). */
export function isWellFormedUtf8(bytes: Buffer): boolean {
  return isUtf8(bytes);
}
