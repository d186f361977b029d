import { StarlingError } from '../shared/index.js';
import { checkTopology, type Topology } from './topology.js';

/**
 * Built-in lab topologies, by name. They go through the same validation as a topology file, and
 * test/unit/lab-catchment.test.ts pins their expected catchment and checks they are tie-free.
 * City codes and coordinates are the regions catalog's (src/shared/regions.ts), so the PoPs are
 * regions the control plane and the proxy's distance model know.
 *
 * Link costs follow distance, roughly one per 400-500 km, so BGP's choice is the geographic one.
 */

const PRESETS: Record<string, unknown> = {
  /**
   * Five European cities, three PoPs with one host each: light enough for a 2-core machine.
   *
   *   lhr(PoP) ─1─ cdg ─3─ mad(PoP)
   *        \2      │2
   *          ─── fra(PoP) ─3─ waw
   *
   * Catchment: lhr→lhr, cdg→lhr (length 2), fra→fra, mad→mad, waw→fra (length 4). Paris and
   * Warsaw have clients but no PoP, so a failover is visible: with fra down, fra and waw move to
   * lhr; with lhr down, lhr and cdg move to fra.
   */
  default: {
    name: 'default',
    cities: [
      { code: 'lhr', name: 'London', lat: 51.47, lon: -0.45, pop_hosts: 1 },
      { code: 'cdg', name: 'Paris', lat: 49.01, lon: 2.55 },
      { code: 'fra', name: 'Frankfurt', lat: 50.03, lon: 8.57, pop_hosts: 1 },
      { code: 'mad', name: 'Madrid', lat: 40.47, lon: -3.56, pop_hosts: 1 },
      { code: 'waw', name: 'Warsaw', lat: 52.17, lon: 20.97 },
    ],
    links: [
      { a: 'lhr', b: 'cdg', cost: 1 }, // 350 km
      { a: 'lhr', b: 'fra', cost: 2 }, // 650 km
      { a: 'cdg', b: 'fra', cost: 2 }, // 450 km
      { a: 'cdg', b: 'mad', cost: 3 }, // 1050 km
      { a: 'fra', b: 'waw', cost: 3 }, // 900 km
    ],
  },
  /**
   * Four US cities, two PoPs; Ashburn has two hosts (the second takes over when the first goes).
   *
   *   iad(PoP×2) ─2─ ord ─3─ den ─3─ sjc(PoP)
   *                   └──────6───────┘
   *
   * Catchment: iad→iad, ord→iad (length 3), den→sjc (length 4), sjc→sjc.
   */
  us: {
    name: 'us',
    cities: [
      { code: 'iad', name: 'Ashburn', lat: 38.95, lon: -77.46, pop_hosts: 2 },
      { code: 'ord', name: 'Chicago', lat: 41.98, lon: -87.9 },
      { code: 'den', name: 'Denver', lat: 39.86, lon: -104.67 },
      { code: 'sjc', name: 'San Jose', lat: 37.36, lon: -121.93, pop_hosts: 1 },
    ],
    links: [
      { a: 'iad', b: 'ord', cost: 2 }, // 950 km
      { a: 'ord', b: 'den', cost: 3 }, // 1430 km
      { a: 'den', b: 'sjc', cost: 3 }, // 1530 km
      { a: 'ord', b: 'sjc', cost: 6 }, // 2960 km
    ],
  },
};

export function presetNames(): string[] {
  return Object.keys(PRESETS);
}

export function isPresetName(name: string): boolean {
  return Object.hasOwn(PRESETS, name);
}

/** A fresh copy of a built-in topology (callers may change it). */
export function getPreset(name: string): Topology {
  if (!isPresetName(name)) {
    throw new StarlingError('ERR_LAB_PRESET', `unknown lab preset "${name}"; the presets are ${presetNames().join(', ')}`, {
      fault: 'user',
      hint: 'or give the path of a topology file (docs/lab-topology.md)',
    });
  }
  return checkTopology(structuredClone(PRESETS[name]), `preset ${name}`);
}
