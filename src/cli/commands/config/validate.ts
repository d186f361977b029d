import { AppConfigError, formatCommandWords, loadAppConfig, type AppConfig, type ConfigIssue } from '../../../contract/index.js';
import { isStarlingError } from '../../../shared/index.js';
import { defaultAppConfigPath } from '../../app-from-config.js';
import { implement } from '../../kit/index.js';
import { printJson } from '../../output.js';
import { configValidate } from './meta.js';

/** What `--json` prints; the keys are stable (README, CLI reference). */
export interface ValidateJson {
  ok: boolean;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
  /** The normalized config (durations in ms, sizes in MB/GB, [http_service] expanded); null on errors. */
  config: AppConfig | null;
}

const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/**
 * `starling config validate`: reads an app config the way `starling deploy` will and lists every
 * problem with its key path — errors (exit status 2) and warnings (keys fly has that Starling
 * ignores; exit status 0). Nothing is sent anywhere: it works without a control plane.
 */
export const runConfigValidate = implement(configValidate, async (opts) => {
  const file = opts.config ?? defaultAppConfigPath();
  let out: ValidateJson;
  try {
    const { config, warnings } = await loadAppConfig(file);
    out = { ok: true, errors: [], warnings, config };
  } catch (e) {
    if (e instanceof AppConfigError) out = { ok: false, errors: e.issues, warnings: e.warnings, config: null };
    // With --json every outcome is JSON, an unreadable file included; without, main.ts reports it.
    else if (isStarlingError(e, 'ERR_APP_CONFIG_READ') && opts.json) {
      out = { ok: false, errors: [{ path: '(file)', message: e.message }], warnings: [], config: null };
    } else throw e;
  }
  if (opts.json) {
    printJson(out);
    return out.ok ? 0 : 2;
  }
  for (const i of out.errors) console.log(`${file}: error: ${i.path}: ${i.message}`);
  for (const i of out.warnings) console.log(`${file}: warning: ${i.path}: ${i.message}`);
  if (!out.config) {
    console.log(`${file}: ${count(out.errors.length, 'error')}, ${count(out.warnings.length, 'warning')}`);
    console.log('hint: docs/app-config.md lists every key, its default and its constraints');
    return 2;
  }
  const c = out.config;
  const ports = c.services.flatMap((s) => s.ports.map((p) => (p.start_port === p.end_port ? `${p.start_port}` : `${p.start_port}-${p.end_port}`)));
  const facts = [
    `app "${c.app}"`,
    c.primary_region ? `primary region ${c.primary_region}` : 'no primary region',
    ports.length > 0 ? `public ports ${ports.join(', ')}` : 'no public ports',
    `${c.deploy.strategy} deploys`,
    // Said only when [processes] names groups: without it, the one group is `app`, as always.
    ...(c.processes.length > 1 || c.processes[0]?.name !== 'app' ? [`process groups ${c.processes.map((g) => g.name).join(', ')}`] : []),
    ...(c.deploy.release_command ? [`release command "${formatCommandWords(c.deploy.release_command)}" first`] : []),
  ];
  const ignored = out.warnings.length > 0 ? `; ${count(out.warnings.length, 'warning')} (ignored keys)` : '';
  console.log(`${file}: valid: ${facts.join(', ')}${ignored}`);
  return 0;
});
