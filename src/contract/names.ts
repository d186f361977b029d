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

/** A host id, given by the operator (`starling hosts add NAME`). */
export const HOST_ID_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A machine id the control plane issues (14 hex digits today; up to 32 accepted). */
export const MACHINE_ID_RE = /^[a-z0-9]{1,32}$/;

/** A secret's name, as an environment variable. */
export const SECRET_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** An image digest: the sha256 of its .tar.gz bytes (group 1: the hex). */
export const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;
