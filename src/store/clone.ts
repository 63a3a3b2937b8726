// Copies of stored records, so the broker changing an object it passed in (or got back from open())
// never changes what a store holds. Buffers are the exception: they are shared, not copied. Message
// payloads and binary properties are immutable throughout the broker (nothing writes into a Buffer
// once a message is made from it), so a copy would only hold every retained and queued payload
// twice with persistence=memory, and the second copy would be counted by no budget (maxRetainedBytes
// counts the retained index's). structuredClone would turn Buffers into plain Uint8Arrays.
export function cloneRecord<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map(cloneRecord) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v !== undefined) out[k] = cloneRecord(v);
  }
  return out as T;
}
