// JSON that keeps Buffers: each Buffer becomes {"$b64": "..."} so properties (correlation data),
// wills and the like survive a round trip through a text column or a JSON message. Plain records
// never have a "$b64" key of their own, so the marker is unambiguous.
export function encodeJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    // `this[key]` is the value before Buffer#toJSON turned it into {type, data}.
    const raw = this[key];
    return Buffer.isBuffer(raw) ? { $b64: raw.toString('base64') } : v;
  });
}

export function decodeJson<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      if (keys.length === 1 && keys[0] === '$b64' && typeof o.$b64 === 'string') return Buffer.from(o.$b64, 'base64');
    }
    return v;
  }) as T;
}
