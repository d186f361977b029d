/** `starling postgres …`: what the command table knows of them (postgres.ts runs them). */
import { controlFlags, jsonFlag } from '../../flags.js';
import { boolean, custom, defineCommand, number, string } from '../../kit/index.js';
import { regionCode } from '../regions/meta.js';

const regionList = (text: string, flag: string): string[] => text.split(',').filter((r) => r.trim() !== '').map((r) => regionCode(r, flag));

export const postgresCreate = defineCommand({
  noun: 'postgres',
  verb: 'create',
  summary: 'a PostgreSQL app: the primary in --region, a streaming replica in each of --replicas, each machine on its own volume',
  args: ['NAME'],
  options: {
    region: custom({ value: 'REGION', description: "the primary's region (required)", required: { message: '--region REGION is required', hint: 'the region that takes the writes: starling regions list' } }, regionCode),
    replicas: custom({ value: 'REGIONS', description: 'a read replica in each of these regions, comma-separated' }, regionList),
    'size-gb': number({ value: 'GB', integer: true, min: 1, max: 500, default: 1, description: "each machine's volume, 1-500 GB" }),
    sync: boolean({ description: 'synchronous replication: a commit waits until a replica has it, so a failover loses no committed write (writes stop while no replica answers)' }),
    org: string({ value: 'ORG', description: "the app's org (default: the token's own, or personal)" }),
    ...controlFlags,
  },
  load: () => import('./postgres.js'),
});

export const postgresAttach = defineCommand({
  noun: 'postgres',
  verb: 'attach',
  summary: "give an app a database of its own on a PostgreSQL app: sets DATABASE_URL (port 5432: the current primary) and DATABASE_READ_URL (port 5433: the nearest copy) as its secrets",
  args: ['NAME'],
  options: {
    app: string({ value: 'APP', short: 'a', description: 'the app that uses the database (required)', required: { message: '--app APP is required', hint: 'the app whose machines connect' } }),
    ...controlFlags,
  },
  load: () => import('./postgres.js'),
});

export const postgresStatus = defineCommand({
  noun: 'postgres',
  verb: 'status',
  summary: 'each member of a PostgreSQL app: its role, region, replication lag (bytes and seconds) and volume use',
  args: ['NAME'],
  options: { ...jsonFlag(), ...controlFlags },
  load: () => import('./status.js'),
});

export const postgresConnect = defineCommand({
  noun: 'postgres',
  verb: 'connect',
  summary: "psql on a PostgreSQL app's primary, inside the private network (through the machine exec stream)",
  args: ['NAME'],
  options: {
    command: string({ value: 'SQL', short: 'c', description: 'run SQL and print its result instead of an interactive psql' }),
    ...controlFlags,
  },
  load: () => import('./status.js'),
});

export const postgresFailover = defineCommand({
  noun: 'postgres',
  verb: 'failover',
  summary: "a planned switchover: the replica in --to becomes the primary with no committed write lost, the old primary follows it",
  args: ['NAME'],
  options: {
    to: custom({ value: 'REGION', description: 'the region of the replica to promote (required)', required: { message: '--to REGION is required', hint: 'a region with a replica: starling postgres status NAME' } }, regionCode),
    ...controlFlags,
  },
  load: () => import('./failover.js'),
});
