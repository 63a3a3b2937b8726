// Deep copies of stored records. structuredClone would turn Buffers into plain Uint8Arrays, so this
// copies Buffers as Buffers; records are plain data (objects, arrays, primitives, Buffers).
export function cloneRecord<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value)) return Buffer.from(value) as T;
  if (Array.isArray(value)) return value.map(cloneRecord) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v !== undefined) out[k] = cloneRecord(v);
  }
  return out as T;
}
