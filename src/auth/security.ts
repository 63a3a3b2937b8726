// Assembles authentication and authorization from configuration into broker hooks.
import { CheckGate } from './check-gate.js';
import type { Logger } from 'pino';
import type { EnhancedAuthenticator } from '../hooks/enhanced-auth.js';
import type { BrokerHooks, ClientInfo, Decision } from '../hooks/hooks.js';
import { ScramSha256Authenticator } from '../hooks/scram.js';
import { parseAclFile, type AclFile } from './acl-file.js';
import { Authorizer } from './acl.js';
import { createAuthenticate, throttledAuthenticator } from './authenticate.js';
import { BasicMethod } from './basic.js';
import type { AuthMethod } from './methods.js';
import { MtlsMethod } from './mtls.js';
import { parsePasswordFile, type PasswordTable } from './password-file.js';
import { serverSecret } from './server-secret.js';
import { FailureThrottle, type ThrottleOptions } from './throttle.js';
import { TokenMethod } from './token.js';
import { tokenAuthenticator } from './token-auth.js';
import { WatchedFile } from './watched-file.js';

export const AUTH_METHODS = ['basic', 'token', 'mtls'] as const;
export type AuthMethodName = (typeof AUTH_METHODS)[number];

/** The configuration keys this module reads (names as in the config schema), plus test knobs. */
export interface SecurityOptions {
  mqttAuthenticationEnabled: boolean;
  /** Tried in this order; the first that passes wins. */
  mqttAuthenticationMethods: readonly string[];
  mqttPasswordFile?: string;
  mqttAuthorizationEnabled: boolean;
  mqttAclFile?: string;
  mqttTokenSecret?: string;
  mqttTokenPublicKeyFile?: string;
  mqttTokenJwksFile?: string;
  mqttTokenIssuer?: string;
  mqttTokenAudience?: string;
  /** Seconds of clock skew allowed on exp/nbf (default 30). */
  mqttTokenClockToleranceSec?: number;
  /** Claim that becomes the user name (default `sub`). */
  mqttTokenUsernameClaim?: string;
  /** Certificate subject field that becomes the user name (default `CN`). */
  mqttTlsClientCertUsernameField?: string;
  /** Where the server secret is kept (src/auth/server-secret.ts) unless `persistence` is `memory`. */
  dataDir?: string;
  persistence?: string;
  log: Logger;
  /** How often watched files are stat'ed in case fs.watch misses a change (default 5000 ms). */
  fileCheckIntervalMs?: number;
  /** Failure slow-down tuning (tests use small numbers). */
  throttle?: Partial<ThrottleOptions>;
}

export interface Security {
  /** authenticate / authorizePublish / authorizeSubscribe / authenticators, as configured. */
  hooks: Partial<BrokerHooks>;
  /** MQTT 5 enhanced authentication methods (SCRAM-SHA-256 over the password file's users). */
  authenticators: EnhancedAuthenticator[];
  /** Whether a message on `topic` may be delivered to `client` (read access, deny first). */
  authorizeRead(client: ClientInfo, topic: string): Decision;
  /**
   * Calls `listener` after each reload of the ACL file (not the first load), so the broker can
   * re-check what sessions already hold: decisions are made at SUBSCRIBE, and a reload that revokes
   * access must reach subscriptions made before it. Returns a function that removes the listener.
   */
  onAclReload(listener: () => void): () => void;
  /** The failure slow-down, for metrics and tests. */
  throttle: FailureThrottle;
  /** Turns for password checks (MQTT `basic` and admin API logins share it: one thread pool). */
  checkGate: CheckGate;
  /** Stops file watching. */
  close(): void;
}

const DEFAULT_FILE_CHECK_MS = 5_000;
const nonEmpty = (s: string | undefined): string | undefined => (s !== undefined && s.trim().length > 0 ? s : undefined);

export async function createSecurity(options: SecurityOptions): Promise<Security> {
  const { log } = options;
  const pollIntervalMs = options.fileCheckIntervalMs ?? DEFAULT_FILE_CHECK_MS;
  const closers: Array<() => void> = [];
  const throttle = new FailureThrottle(options.throttle);
  const checkGate = new CheckGate();
  const hooks: Partial<BrokerHooks> = {};
  const authenticators: EnhancedAuthenticator[] = [];

  for (const m of options.mqttAuthenticationMethods) {
    if (!(AUTH_METHODS as readonly string[]).includes(m)) throw new Error(`mqttAuthenticationMethods: unknown method "${m}" (expected ${AUTH_METHODS.join(', ')})`);
  }
  const names = options.mqttAuthenticationEnabled ? (options.mqttAuthenticationMethods as readonly AuthMethodName[]) : [];

  if (options.mqttAuthenticationEnabled) {
    if (names.length === 0) log.error('mqttAuthenticationEnabled with no mqttAuthenticationMethods: every client is refused');
    const methods: AuthMethod[] = [];
    for (const name of new Set(names)) {
      if (name === 'basic') {
        const basic = new BasicMethod(passwordSource(options, pollIntervalMs, closers));
        methods.push(basic);
        const secret = serverSecret({ dataDir: options.persistence === 'memory' ? undefined : nonEmpty(options.dataDir), log });
        authenticators.push(throttledAuthenticator(new ScramSha256Authenticator(basic.scramLookup, secret), throttle, log));
      } else if (name === 'token') {
        const token = new TokenMethod({
          secret: nonEmpty(options.mqttTokenSecret),
          publicKeyFile: nonEmpty(options.mqttTokenPublicKeyFile),
          jwksFile: nonEmpty(options.mqttTokenJwksFile),
          issuer: nonEmpty(options.mqttTokenIssuer),
          audience: nonEmpty(options.mqttTokenAudience),
          clockToleranceSec: Math.max(0, options.mqttTokenClockToleranceSec ?? 30),
          usernameClaim: nonEmpty(options.mqttTokenUsernameClaim) ?? 'sub',
          log,
          pollIntervalMs,
        });
        closers.push(() => token.close());
        methods.push(token);
        // The same tokens over MQTT 5 enhanced authentication, so they can be renewed by re-authentication.
        authenticators.push(throttledAuthenticator(tokenAuthenticator(token, nonEmpty(options.mqttTokenUsernameClaim) ?? 'sub'), throttle, log));
      } else {
        methods.push(new MtlsMethod(nonEmpty(options.mqttTlsClientCertUsernameField) ?? 'CN'));
      }
    }
    hooks.authenticate = createAuthenticate(methods, throttle, log, checkGate);
    hooks.authenticators = authenticators;
  }

  const authorizer = new Authorizer(options.mqttAuthorizationEnabled);
  const reloadListeners = new Set<() => void>();
  let aclLoads = 0;
  if (options.mqttAuthorizationEnabled) {
    if (!options.mqttAuthenticationEnabled) log.warn('authorization without authentication: ACL user rules select on unverified user names');
    const aclPath = nonEmpty(options.mqttAclFile);
    if (aclPath === undefined) {
      log.error('mqttAuthorizationEnabled without mqttAclFile: only token grants allow anything');
    } else {
      const file = new WatchedFile<AclFile>({
        path: aclPath,
        label: 'ACL file',
        parse: parseAclFile,
        log,
        pollIntervalMs,
        onLoad: (acl) => {
          authorizer.setAcl(acl);
          // The first load happens here, before any session exists; later ones tell the broker.
          if (aclLoads++ === 0) return;
          for (const listener of reloadListeners) {
            try {
              listener();
            } catch (err) {
              log.error({ err }, 're-checking sessions after the ACL reload failed');
            }
          }
        },
      });
      closers.push(() => file.close());
    }
  }
  // Token grants restrict even without an ACL file, so the hooks are needed whenever tokens are.
  if (options.mqttAuthorizationEnabled || names.includes('token')) {
    hooks.authorizePublish = (client, topic) => authorizer.authorizePublish(client, topic);
    hooks.authorizeSubscribe = (client, filter) => authorizer.authorizeSubscribe(client, filter);
    hooks.authorizeRead = (client, topic) => authorizer.authorizeRead(client, topic);
    hooks.release = (client) => authorizer.forget(client);
  }

  return {
    hooks,
    authenticators,
    authorizeRead: (client, topic) => authorizer.authorizeRead(client, topic),
    onAclReload: (listener) => {
      reloadListeners.add(listener);
      return () => reloadListeners.delete(listener);
    },
    throttle,
    checkGate,
    close: () => {
      for (const close of closers) close();
    },
  };
}

function passwordSource(options: SecurityOptions, pollIntervalMs: number, closers: Array<() => void>): { readonly current: PasswordTable | undefined } {
  const path = nonEmpty(options.mqttPasswordFile);
  if (path === undefined) {
    options.log.error('authentication method "basic" needs mqttPasswordFile; basic logins are refused with 0x8C');
    return { current: undefined };
  }
  const file = new WatchedFile<PasswordTable>({ path, label: 'password file', parse: parsePasswordFile, log: options.log, pollIntervalMs });
  closers.push(() => file.close());
  return file;
}
