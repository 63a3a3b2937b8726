// Reads a running test server's counters the way an operator does: GET /metrics on its WebSocket
// listener, parsed from the Prometheus text.
import { parsePrometheus, sampleValue, type PromText } from '../observe/helpers.js';
import type { TestServer } from './server.js';

export async function scrape(t: TestServer): Promise<PromText> {
  const res = await fetch(`http://127.0.0.1:${t.port('ws')}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parsePrometheus(await res.text());
}

/** starling_limit_hits_total{limit} as /metrics shows it now. */
export async function limitHits(t: TestServer, limit: string): Promise<number> {
  return sampleValue(await scrape(t), 'starling_limit_hits_total', { limit });
}
