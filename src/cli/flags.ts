/**
 * The flags many commands share, declared once: `--json`, `--app`, the four that reach the control
 * plane, `--log-level`, `--yes` and `--config`. A command spreads them into its options
 * (`options: { ...jsonFlag(), ...controlFlags }`); what they mean is in the README's CLI reference.
 * The short forms flyctl has are declared here too, so they mean the same on every command:
 * `-a` `--app`, `-c` `--config`, `-j` `--json`, `-y` `--yes` (and `-f` `--follow`, SHORT.follow).
 */

/** The one-letter forms of shared flags. */
export const SHORT = { app: 'a', config: 'c', json: 'j', yes: 'y', follow: 'f' } as const;
import { appFromConfig } from './app-from-config.js';
import { boolean, oneOf, string, usageError, type Option } from './kit/index.js';

/** `--json`: the command's documented JSON instead of text. */
export function jsonFlag(description = 'print JSON (keys as documented) instead of text') {
  return { json: boolean({ short: SHORT.json, description }) };
}

/**
 * `--app APP`, of the commands about one app. When it is not given, the app config's `app`
 * (app-from-config.ts): the command's own `-c/--config` when that is the app config
 * (appConfigFlag), else starling.toml/fly.toml in the current directory. run() always gets a name.
 */
export function appFlag(o: { description?: string; hint?: string } = {}): { app: Option<string> } {
  const hint = o.hint ?? 'see your apps with: starling apps list';
  const option = string({ value: 'APP', short: SHORT.app, description: o.description ?? 'the app (default: app in ./starling.toml or ./fly.toml)' });
  return {
    app: {
      ...option,
      // Absent stays undefined here, for the fallback to fill in before run().
      parse: (raw, flag) => {
        const name = option.parse(raw, flag);
        if (name === '') throw usageError(`${flag} must name an app, got ""`, hint);
        return name as string;
      },
      fallback: (values, options) => appFromConfig(options.config === appConfigFlag.config ? (values.config as string | undefined) : undefined, hint),
    },
  };
}

/** `--control URL`, `--lab NAME`, `--token-file FILE`, `--fingerprint SHA256`, `--insecure`: on every command that calls the control plane (control-client.ts). */
export const controlFlags = {
  control: string({ value: 'URL', description: 'the control plane, e.g. https://10.0.0.1:9300 (else STARLING_CONTROL_URL, else the config file)' }),
  lab: string({ value: 'NAME', description: "a lab's control plane instead (starling lab up; make it the default with starling lab use)" }),
  'token-file': string({ value: 'FILE', description: 'file holding the API token (else STARLING_TOKEN / STARLING_TOKEN_FILE, else the config file)' }),
  fingerprint: string({
    value: 'SHA256',
    description: "the control plane's certificate fingerprint to pin (else STARLING_CONTROL_FINGERPRINT, the config file, or the pin from first use)",
  }),
  insecure: boolean({ description: 'allow plain http:// to a non-loopback control plane (the token travels in clear)' }),
};

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** `--log-level LEVEL` of the daemons (the logger's levels). */
export const logLevelFlag = {
  'log-level': oneOf(LOG_LEVELS, { value: 'LEVEL', description: 'debug, info, warn or error (to stderr)', default: 'info' }),
};

/** `--yes`: the confirmation a destructive command asks for; `description` says what it confirms. */
export function yesFlag(description: string) {
  return { yes: boolean({ short: SHORT.yes, description }) };
}

/** `-c/--config FILE` of the commands that read an app config (deploy, config validate); `--app` defaults to its `app`. */
export const appConfigFlag = configFlag('the app config (default: starling.toml, or fly.toml when only that exists)');

/** `--config FILE`: the file a command reads its settings from (agent.toml, control.toml, starling.toml). */
export function configFlag(description: string): { config: Option<string | undefined> };
export function configFlag(description: string, defaultPath: string): { config: Option<string> };
export function configFlag(description: string, defaultPath?: string): { config: Option<string | undefined> } {
  return { config: string({ value: 'FILE', short: SHORT.config, description, ...(defaultPath === undefined ? {} : { default: defaultPath }) }) };
}
