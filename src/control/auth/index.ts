// Callers of the control plane: the platform operator, org tokens, hosts and join tokens.
export {
  Authenticator,
  DEFAULT_ORG,
  check,
  principalKey,
  seesApp,
  seesOrg,
  type Access,
  type AuthResult,
  type Principal,
} from './principal.js';
export {
  SCOPES,
  TOKEN_ID_RE,
  hashSecret,
  hostCredential,
  joinToken,
  matchesHash,
  newTokenId,
  parseSecret,
  scopeAtLeast,
  userToken,
  type HostCredentialDoc,
  type JoinTokenDoc,
  type Scope,
  type TokenDoc,
} from './tokens.js';
