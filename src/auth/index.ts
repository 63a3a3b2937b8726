// Public surface of authentication and authorization.
export { createSecurity, AUTH_METHODS, type AuthMethodName, type Security, type SecurityOptions } from './security.js';
export { parseAclFile, type AclFile, type AclRule, type PatternRule } from './acl-file.js';
export { Authorizer } from './acl.js';
export { covers, overlaps } from '../topics/cover.js';
export { FailureThrottle, DEFAULT_THROTTLE, addressKey, type ThrottleOptions } from './throttle.js';
export {
  parsePasswordFile,
  passwordLine,
  hashPassword,
  verifyPassword,
  DEFAULT_SCRYPT,
  type PasswordEntry,
  type PasswordTable,
  type ScryptParams,
} from './password-file.js';
export { FileFormatError } from './watched-file.js';
