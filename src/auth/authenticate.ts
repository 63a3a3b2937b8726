// The `authenticate` hook: wait out the address's failure delay, try the configured methods in
// order (the first that passes wins), and on success put the verified identity on ClientInfo.
// Also the wrapper that gives MQTT 5 enhanced authentication (SCRAM) the same failure slow-down.
import type { Logger } from 'pino';
import type { AuthConversation, AuthStep, EnhancedAuthenticator } from '../hooks/enhanced-auth.js';
import type { ClientInfo, Decision } from '../hooks/hooks.js';
import type { ConnectPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { applyPass, combineFailures, type AuthMethod } from './methods.js';
import type { FailureReceipt, FailureThrottle } from './throttle.js';
import { CheckGate, TooManyChecks } from './check-gate.js';

export function createAuthenticate(
  methods: readonly AuthMethod[],
  throttle: FailureThrottle,
  log: Logger,
  gate: CheckGate = new CheckGate(),
): (client: ClientInfo, packet: ConnectPacket) => Promise<Decision> {
  const check = checkCredentials(methods, throttle, log);
  return async (client, packet) => {
    await throttle.wait(client.remoteAddress, packet.username);
    try {
      // The checks take turns by address (check-gate.ts): a burst from one address cannot hold the
      // thread pool that everyone's password checks share.
      return await gate.run(client.remoteAddress, () => check(client, packet));
    } catch (err) {
      if (!(err instanceof TooManyChecks)) throw err;
      // Not a wrong password: nothing was checked, so it counts as no failure of a user name.
      log.info({ clientId: client.clientId, username: client.username, remote: client.remoteAddress, reasonCode: ReasonCode.ServerBusy }, 'authentication refused: too many credential checks under way from this address');
      return ReasonCode.ServerBusy;
    }
  };
}

/** The configured methods in order, the first that passes wins; failures are counted and logged. */
function checkCredentials(
  methods: readonly AuthMethod[],
  throttle: FailureThrottle,
  log: Logger,
): (client: ClientInfo, packet: ConnectPacket) => Promise<Decision> {
  return async (client, packet) => {
    const codes: number[] = [];
    const reasons: string[] = [];
    // Whether only methods that check the CONNECT user name refused: only then does the failure
    // count against the name. A token client's user name may be anything, shared by a whole fleet,
    // so a refused token (which basic then also refuses as a password) does not count against it.
    let nameRefused = false;
    let otherRefused = false;
    for (const method of methods) {
      let outcome;
      try {
        outcome = await method.check(client, packet);
      } catch (err) {
        // A method that throws is a broker fault; it refuses, it never lets the client through.
        log.error({ err, method: method.name }, 'authentication method failed');
        outcome = { kind: 'fail' as const, code: ReasonCode.BadAuthenticationMethod, reason: 'internal error' };
      }
      if (outcome.kind === 'pass') {
        applyPass(client, outcome);
        log.debug({ clientId: client.clientId, username: client.username, method: method.name }, 'authenticated');
        return ReasonCode.Success;
      }
      if (outcome.kind === 'fail') {
        if (method.checksUsername) nameRefused = true;
        else otherRefused = true;
        codes.push(outcome.code);
        reasons.push(`${method.name}: ${outcome.reason}`);
      }
    }
    const code = combineFailures(codes);
    throttle.failure(client.remoteAddress, nameRefused && !otherRefused ? packet.username : undefined);
    // Never the password; the user name helps spot stuffing against one account. Each method's
    // reason is here only: the CONNACK, and the `connection refused` line after this one, give one
    // reason code for all, so a client learns nothing of which check failed. `reasonCode`, as in
    // that line (`code` is a socket error's in the log).
    log.info(
      { clientId: client.clientId, username: client.username, remote: client.remoteAddress, reasonCode: code, reasons: reasons.length ? reasons : ['no credentials presented'] },
      'authentication failed',
    );
    return code;
  };
}

/**
 * Gives an enhanced authenticator the failure delay and failure counting of plain CONNECT, per
 * address and per claimed user name. An exchange counts as a failure from the moment it names a
 * user, and the count is taken back when it succeeds: a client that only collects challenges (the
 * salt of each name it probes) and hangs up pays like one that guesses wrong.
 */
export function throttledAuthenticator(inner: EnhancedAuthenticator, throttle: FailureThrottle, log: Logger): EnhancedAuthenticator {
  return {
    method: inner.method,
    start(client: ClientInfo): AuthConversation {
      const conversation = inner.start(client);
      let first = true;
      let charged: FailureReceipt | undefined;
      return {
        async step(data: Buffer | undefined): Promise<AuthStep> {
          if (first) {
            first = false;
            await throttle.wait(client.remoteAddress);
          }
          const step = await conversation.step(data);
          const user = conversation.user;
          if (charged === undefined && user !== undefined) {
            await throttle.waitForUser(user);
            charged = throttle.failure(client.remoteAddress, user);
          }
          if (step.kind === 'failure') {
            charged ??= throttle.failure(client.remoteAddress);
            log.info({ clientId: client.clientId, username: user, remote: client.remoteAddress, method: inner.method, reason: step.reason }, 'authentication failed');
          } else if (step.kind === 'success' && charged !== undefined) {
            throttle.refund(charged);
          }
          return step;
        },
      };
    },
  };
}
