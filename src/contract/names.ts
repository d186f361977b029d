/**
 * The names of the platform — one rule each, the same wherever a name is checked: in the control
 * plane's API, an app config, an agent's routes file and Machines API, the CLI.
 */

/**
 * An app: lower-case letters, digits and `-`, starting with a letter, at most 63 characters. It is
 * a DNS label (`<app>.<apps_domain>`) and one NATS subject token, so no dots; starting with a
 * letter keeps it from ever reading as a number or an address.
 */
export const APP_NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;
export const APP_NAME_RULE = 'must be lower-case letters, digits and -, starting with a letter, at most 63 characters';

/** An organisation: the same rule as an app. */
export const ORG_NAME_RE = APP_NAME_RE;

/** The org every app belongs to unless it says otherwise (apps made before orgs existed, and the platform's). */
export const DEFAULT_ORG = 'personal';

/**
 * A process group (`[processes]` keys, `processes = [...]` lists, `scale count web=2`): lower-case
 * letters, digits, `-` and `_`, starting with a letter or digit, at most 63 characters — what fly
 * writes (`web`, `worker`, `cron_jobs`); no `=`, `,` or dots, so `web=2` and lists read one way.
 */
export const PROCESS_GROUP_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const PROCESS_GROUP_RULE = 'must be a process group name: lower-case letters, digits, - and _, starting with a letter or digit, at most 63 characters';
/** fly's default group: an app without `[processes]` has this one group, and a machine without a group is in it. */
export const DEFAULT_PROCESS_GROUP = 'app';

/** A host id, given by the operator (`starling hosts add NAME`). */
export const HOST_ID_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A machine id the control plane issues (14 hex digits today; up to 32 accepted). */
export const MACHINE_ID_RE = /^[a-z0-9]{1,32}$/;

/** A secret's name, as an environment variable. */
export const SECRET_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * Response fields the edge proxy never passes from a machine (hop-by-hop and framing fields it
 * rewrites, the replay header it acts on, the request id it sets itself): src/proxy drops them,
 * and an app's own response headers (http_options.response.headers) may not name them, nor `via`.
 */
export const PROXY_RESPONSE_FIELDS = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'starling-replay', 'fly-replay', 'starling-request-id', 'fly-request-id'] as const;
/** What an app may not set on its responses: the proxy's fields above, and `via` (the proxy appends itself). */
export const RESERVED_RESPONSE_FIELDS: ReadonlySet<string> = new Set([...PROXY_RESPONSE_FIELDS, 'via']);
/** A response field name an app may set: lower-case token characters (RFC 9110 §5.1). */
export const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9a-z-]{1,128}$/;

/** A digest: `sha256:<64 hex>` of the content it names (group 1: the hex). */
/** Standard base64 with its padding (fly's [[files]] raw_value and file secrets). */
export const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

export const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;
