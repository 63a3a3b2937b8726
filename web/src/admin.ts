// The broker's admin API (/api/v1 on the origin that served the console), with a bearer token the
// user types in. The token is kept in sessionStorage only if asked, and only for this tab.

export interface AdminClient {
  clientId: string;
  username?: string;
  address: string;
  remotePort?: number;
  protocol: string;
  transport: string;
  listener: string;
  connectedAt: string;
  inflight: number;
  queued: number;
  subscriptions: number;
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

export class AdminApi {
  constructor(
    private readonly token: string,
    // Relative to the page, so a console behind a reverse proxy under a sub-path still finds it.
    private readonly base = new URL('api/v1/', location.href).href,
  ) {}

  private async call<T>(path: string, init: RequestInit = {}): Promise<T> {
    const res = await fetch(this.base + path, {
      ...init,
      headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json', ...(init.headers ?? {}) },
      cache: 'no-store',
    });
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const msg = (body as { error?: string } | undefined)?.error ?? `${res.status} ${res.statusText}`;
      throw new Error(res.status === 401 ? 'the admin token was refused' : msg);
    }
    return body as T;
  }

  clients(): Promise<{ total: number; clients: AdminClient[] }> {
    return this.call('clients');
  }
  kick(clientId: string): Promise<{ kicked: boolean }> {
    return this.call(`clients/${encodeURIComponent(clientId)}/kick`, { method: 'POST' });
  }
}
