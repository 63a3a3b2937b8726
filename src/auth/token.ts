// `token`: a JWT in the CONNECT password field (the user name may be anything), verified with jose
// against an HMAC secret, a public key (PEM: SPKI, PKCS#1 or an X.509 certificate) and/or a JWKS
// file. `exp` and `nbf` are honoured with a small clock tolerance; issuer and audience are checked
// when configured.
//
// Identity: the user name becomes the configured claim (`sub` by default). A token without that
// claim leaves the client without a user name (anonymous for ACL purposes): the CONNECT user name
// was not vouched for by the issuer, so it must not select ACL rules.
//
// Grants: an `acl` claim `{ "pub": [filters], "sub": [filters], "deny": [filters] }` is attached to
// ClientInfo.grants for the authorize hooks (see src/auth/acl.ts for how it combines with the file).
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import type { Logger } from 'pino';
import type { ClientGrants, ClientInfo } from '../hooks/hooks.js';
import type { ConnectPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { validateTopicFilter } from '../protocol/topic.js';
import { fail, skip, type AuthMethod, type MethodOutcome } from './methods.js';
import { WatchedFile } from './watched-file.js';

export interface TokenOptions {
  /** HMAC secret for HS256/384/512 tokens. */
  secret?: string;
  /** PEM public key or certificate for RS*, PS*, ES*, EdDSA tokens. */
  publicKeyFile?: string;
  /** JSON Web Key Set file; keys are chosen by the token's `kid`. */
  jwksFile?: string;
  issuer?: string;
  audience?: string;
  clockToleranceSec: number;
  usernameClaim: string;
  log: Logger;
  pollIntervalMs: number;
}

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
const PUBLIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** Shorter HMAC secrets can be brute-forced from one captured token. */
const MIN_SECRET_BYTES = 32;
/** A JWS in compact form: three base64url parts. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** A key that should be there but is not: the broker's fault, not the client's. */
class KeyUnavailable extends Error {}

type LocalJwks = ReturnType<typeof createLocalJWKSet>;

function parseJwks(text: string): LocalJwks {
  const json: unknown = JSON.parse(text);
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { keys?: unknown }).keys)) {
    throw new Error('JWKS file must be a JSON object with a "keys" array');
  }
  return createLocalJWKSet(json as Parameters<typeof createLocalJWKSet>[0]);
}

function stringList(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new Error(`acl.${what} must be an array of strings`);
  for (const f of value) validateTopicFilter(f);
  return value;
}

/** Reads the `acl` claim; undefined when absent, throws when malformed. */
export function grantsFromClaims(payload: JWTPayload): ClientGrants | undefined {
  const acl = payload['acl'];
  if (acl === undefined) return undefined;
  if (typeof acl !== 'object' || acl === null || Array.isArray(acl)) throw new Error('acl claim must be an object');
  const a = acl as Record<string, unknown>;
  for (const key of Object.keys(a)) if (key !== 'pub' && key !== 'sub' && key !== 'deny') throw new Error(`acl claim has unknown key "${key}"`);
  return { publish: stringList(a['pub'], 'pub'), subscribe: stringList(a['sub'], 'sub'), deny: stringList(a['deny'], 'deny') };
}

export class TokenMethod implements AuthMethod {
  readonly name = 'token';
  private readonly secret: Uint8Array | undefined;
  private readonly publicKey: WatchedFile<KeyObject> | undefined;
  private readonly jwks: WatchedFile<LocalJwks> | undefined;
  private readonly verifyOptions: JWTVerifyOptions;

  constructor(private readonly opts: TokenOptions) {
    const { log } = opts;
    if (opts.secret) {
      this.secret = new TextEncoder().encode(opts.secret);
      if (this.secret.length < MIN_SECRET_BYTES) log.warn(`mqttTokenSecret is shorter than ${MIN_SECRET_BYTES} bytes; tokens signed with it can be brute-forced`);
    }
    if (opts.publicKeyFile) {
      this.publicKey = new WatchedFile({
        path: opts.publicKeyFile,
        label: 'token public key file',
        parse: (text) => createPublicKey(text),
        log,
        pollIntervalMs: opts.pollIntervalMs,
      });
    }
    if (opts.jwksFile) {
      this.jwks = new WatchedFile({ path: opts.jwksFile, label: 'token JWKS file', parse: parseJwks, log, pollIntervalMs: opts.pollIntervalMs });
    }
    const algorithms = [...(this.secret ? HMAC_ALGS : []), ...(this.publicKey || this.jwks ? PUBLIC_ALGS : [])];
    this.verifyOptions = { algorithms, clockTolerance: opts.clockToleranceSec };
    if (opts.issuer) this.verifyOptions.issuer = opts.issuer;
    if (opts.audience) this.verifyOptions.audience = opts.audience;
    if (!this.configured) log.error('token authentication has no key: set mqttTokenSecret, mqttTokenPublicKeyFile or mqttTokenJwksFile');
  }

  get configured(): boolean {
    return this.secret !== undefined || this.publicKey !== undefined || this.jwks !== undefined;
  }

  close(): void {
    this.publicKey?.close();
    this.jwks?.close();
  }

  /** Chooses the key by algorithm (HMAC or not) and, with a JWKS, by `kid`. */
  private readonly getKey: JWTVerifyGetKey = (header, token) => {
    if (header.alg.startsWith('HS')) {
      if (!this.secret) throw new KeyUnavailable('no HMAC secret');
      return this.secret;
    }
    const jwks = this.jwks?.current;
    const pem = this.publicKey?.current;
    if (jwks && (header.kid !== undefined || !pem)) return jwks(header, token);
    if (pem) return pem;
    throw new KeyUnavailable('token key file not loaded');
  };

  async check(_client: ClientInfo, packet: ConnectPacket): Promise<MethodOutcome> {
    if (packet.password === undefined) return skip;
    const token = packet.password.toString('utf8');
    // Something that is not a JWS at all is a password for another method, not a bad token.
    if (!COMPACT_JWS.test(token)) return skip;
    return this.verify(token);
  }

  /** Verifies a compact JWS and reads its identity, grants and end. */
  async verify(token: string): Promise<MethodOutcome> {
    if (!COMPACT_JWS.test(token)) return fail(ReasonCode.BadUserNameOrPassword, 'not a compact JWS');
    if (!this.configured) return fail(ReasonCode.BadAuthenticationMethod, 'token authentication has no key configured');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.getKey, this.verifyOptions));
    } catch (err) {
      if (err instanceof KeyUnavailable) return fail(ReasonCode.BadAuthenticationMethod, err.message);
      const code = err instanceof joseErrors.JOSEError ? err.code : 'ERR_JWT_INVALID';
      return fail(ReasonCode.BadUserNameOrPassword, `token rejected (${code}): ${(err as Error).message}`);
    }
    let grants: ClientGrants | undefined;
    try {
      grants = grantsFromClaims(payload);
    } catch (err) {
      // Genuine credentials whose permissions cannot be read: refuse rather than guess.
      return fail(ReasonCode.NotAuthorized, `token acl claim: ${(err as Error).message}`);
    }
    const id = payload[this.opts.usernameClaim];
    const outcome: MethodOutcome = { kind: 'pass', username: typeof id === 'string' ? id : null };
    if (grants) outcome.grants = grants;
    // The connection ends then (src/channel/credentials-expiry.ts), with the slack CONNECT had.
    if (typeof payload.exp === 'number') outcome.expiresAt = (payload.exp + this.opts.clockToleranceSec) * 1000;
    return outcome;
  }
}
