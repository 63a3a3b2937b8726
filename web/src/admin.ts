// The broker's admin API (/api/v1 on the origin that served the console), with a bearer token or
// an admin user's name and password (HTTP Basic) that the user types in. The token is kept in
// sessionStorage only if asked, and only for this tab; a password is never stored, only held in
// memory while the page lives (it is the user's password-file password, likely used elsewhere too).

export interface AdminClient {
  clientId: string;
  username?: string;
  address: string;
  remotePort?: number;
  protocol: string;
  transport: string;
  /** The listener as configured (the /metrics label), e.g. `ws://0.0.0.0:8083`. */
  listener: string;
  /** The URL a client dials for that listener, as the Listeners table shows it. */
  listenerUrl: string;
  connectedAt: string;
  inflight: number;
  queued: number;
  subscriptions: number;
}

export interface AdminSubscription {
  clientId: string;
  online: boolean;
  filter: string;
  qos: number;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: number;
  subscriptionId?: number;
}

export interface AdminRetained {
  topic: string;
  qos: number;
  size: number;
  payloadText?: string;
  truncated?: boolean;
  createdAt: string;
}

/** A query string of the defined values. */
function query(q: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v));
  return p.toString();
}

/** One listener as /console.json lists it: the URL a client dials, nothing more. */
export interface PublicListener {
  url: string;
}

/** The broker's listeners from /console.json, which needs no admin token. */
export async function publicListeners(): Promise<PublicListener[]> {
  const res = await fetch(new URL('console.json', location.href).href, { cache: 'no-store' });
  if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
  const body = (await res.json()) as { listeners?: unknown };
  return Array.isArray(body.listeners) ? body.listeners.filter((l): l is PublicListener => typeof l?.url === 'string') : [];
}

const TOKEN_KEY = 'starling.console.adminToken';

export function storedToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lives in the form only
  }
}

/** What the console shows the admin API: its token, or an admin user (httpAdminUsers) and password. */
export type AdminCredentials = { token: string } | { user: string; password: string };

/** The Authorization header for `c`. Basic is base64 of the UTF-8 bytes; btoa alone takes Latin-1 only. */
export function authorization(c: AdminCredentials): string {
  if ('token' in c) return `Bearer ${c.token}`;
  let latin1 = '';
  for (const byte of new TextEncoder().encode(`${c.user}:${c.password}`)) latin1 += String.fromCharCode(byte);
  return `Basic ${btoa(latin1)}`;
}

export class AdminApi {
  constructor(
    private readonly credentials: AdminCredentials,
    // Relative to the page, so a console behind a reverse proxy under a sub-path still finds it.
    private readonly base = new URL('api/v1/', location.href).href,
  ) {}

  private async call<T>(path: string, init: RequestInit = {}): Promise<T> {
    const res = await fetch(this.base + path, {
      ...init,
      headers: { Authorization: authorization(this.credentials), Accept: 'application/json', ...(init.headers ?? {}) },
      cache: 'no-store',
      // The header is set by hand; no cookie or cached credential of the browser rides along.
      credentials: 'omit',
    });
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const msg = (body as { error?: string } | undefined)?.error ?? `${res.status} ${res.statusText}`;
      if (res.status === 401) throw new Error('token' in this.credentials ? 'the admin token was refused' : 'the user name or password was refused');
      throw new Error(msg);
    }
    return body as T;
  }

  clients(q: { search?: string; offset?: number; limit?: number } = {}): Promise<{ total: number; offset: number; clients: AdminClient[] }> {
    return this.call(`clients?${query(q)}`);
  }
  subscriptions(q: { clientId?: string; offset?: number; limit?: number } = {}): Promise<{ total: number; offset: number; subscriptions: AdminSubscription[] }> {
    return this.call(`subscriptions?${query(q)}`);
  }
  retained(q: { filter?: string; offset?: number; limit?: number } = {}): Promise<{ total: number; offset: number; messages: AdminRetained[] }> {
    return this.call(`retained?${query(q)}`);
  }
  /** The live packet trace: a streaming response of NDJSON rows, until `signal` aborts it. */
  async trace(watch: { clientId?: string; filter?: string }, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const res = await fetch(`${this.base}trace?${query(watch)}`, {
      headers: { Authorization: authorization(this.credentials), Accept: 'application/x-ndjson' },
      cache: 'no-store',
      credentials: 'omit',
      signal,
    });
    if (!res.ok || !res.body) {
      let msg = `${res.status} ${res.statusText}`;
      try {
        msg = ((await res.json()) as { error?: string }).error ?? msg;
      } catch {
        // not JSON
      }
      throw new Error(res.status === 401 ? 'the admin credentials were refused' : msg);
    }
    return res.body;
  }
  deleteRetained(topic: string): Promise<{ deleted: boolean }> {
    return this.call(`retained?${query({ topic })}`, { method: 'DELETE' });
  }

  kick(clientId: string): Promise<{ kicked: boolean }> {
    return this.call(`clients/${encodeURIComponent(clientId)}/kick`, { method: 'POST' });
  }
}
