/**
 * The built-in regions catalog: IATA-like codes with coordinates, and a modelled round-trip time
 * between any two of them. Measured RTTs (from the mesh, later) override the model through
 * RttTable.withMeasured().
 *
 * The model: great-circle distance, times 1.5 for the detours real fibre takes, at 200 km/ms (light in
 * glass), there and back, plus 1 ms of switching. fra→iad comes out ≈ 100 ms, close to what
 * operators see; the point is the ordering of regions, not the exact figure.
 */
export interface Region {
  code: string;
  name: string;
  lat: number;
  lon: number;
}

const CATALOG: readonly Region[] = [
  { code: 'ams', name: 'Amsterdam', lat: 52.31, lon: 4.76 },
  { code: 'arn', name: 'Stockholm', lat: 59.65, lon: 17.92 },
  { code: 'atl', name: 'Atlanta', lat: 33.64, lon: -84.43 },
  { code: 'bom', name: 'Mumbai', lat: 19.09, lon: 72.87 },
  { code: 'bos', name: 'Boston', lat: 42.36, lon: -71.01 },
  { code: 'cdg', name: 'Paris', lat: 49.01, lon: 2.55 },
  { code: 'den', name: 'Denver', lat: 39.86, lon: -104.67 },
  { code: 'dfw', name: 'Dallas', lat: 32.9, lon: -97.04 },
  { code: 'ewr', name: 'Secaucus', lat: 40.69, lon: -74.17 },
  { code: 'fra', name: 'Frankfurt', lat: 50.03, lon: 8.57 },
  { code: 'gru', name: 'São Paulo', lat: -23.43, lon: -46.47 },
  { code: 'hkg', name: 'Hong Kong', lat: 22.31, lon: 113.92 },
  { code: 'iad', name: 'Ashburn', lat: 38.95, lon: -77.46 },
  { code: 'jnb', name: 'Johannesburg', lat: -26.14, lon: 28.25 },
  { code: 'lax', name: 'Los Angeles', lat: 33.94, lon: -118.41 },
  { code: 'lhr', name: 'London', lat: 51.47, lon: -0.45 },
  { code: 'mad', name: 'Madrid', lat: 40.47, lon: -3.56 },
  { code: 'mia', name: 'Miami', lat: 25.79, lon: -80.29 },
  { code: 'nrt', name: 'Tokyo', lat: 35.77, lon: 140.39 },
  { code: 'ord', name: 'Chicago', lat: 41.98, lon: -87.9 },
  { code: 'otp', name: 'Bucharest', lat: 44.57, lon: 26.1 },
  { code: 'scl', name: 'Santiago', lat: -33.39, lon: -70.79 },
  { code: 'sea', name: 'Seattle', lat: 47.45, lon: -122.31 },
  { code: 'sin', name: 'Singapore', lat: 1.36, lon: 103.99 },
  { code: 'sjc', name: 'San Jose', lat: 37.36, lon: -121.93 },
  { code: 'syd', name: 'Sydney', lat: -33.95, lon: 151.18 },
  { code: 'waw', name: 'Warsaw', lat: 52.17, lon: 20.97 },
  { code: 'yul', name: 'Montreal', lat: 45.47, lon: -73.74 },
  { code: 'yyz', name: 'Toronto', lat: 43.68, lon: -79.63 },
];

const BY_CODE = new Map(CATALOG.map((r) => [r.code, r]));

export function regions(): readonly Region[] {
  return CATALOG;
}

export function findRegion(code: string): Region | undefined {
  return BY_CODE.get(code);
}

export function isKnownRegion(code: string): boolean {
  return BY_CODE.has(code);
}

const EARTH_RADIUS_KM = 6371;

export function distanceKm(a: Region, b: Region): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

export function modelledRttMs(a: Region, b: Region): number {
  if (a.code === b.code) return 0;
  return Math.round(((distanceKm(a, b) * 1.5 * 2) / 200 + 1) * 10) / 10;
}

/** RTTs between regions: the model, with measured figures laid over it (symmetric). */
export class RttTable {
  private readonly measured = new Map<string, number>();

  static key(a: string, b: string): string {
    return a < b ? `${a}:${b}` : `${b}:${a}`;
  }

  withMeasured(a: string, b: string, ms: number): this {
    this.measured.set(RttTable.key(a, b), ms);
    return this;
  }

  /** RTT in ms; Infinity for a region that is neither in the catalog nor measured. */
  rtt(a: string, b: string): number {
    if (a === b) return 0;
    const m = this.measured.get(RttTable.key(a, b));
    if (m !== undefined) return m;
    const ra = BY_CODE.get(a);
    const rb = BY_CODE.get(b);
    return ra && rb ? modelledRttMs(ra, rb) : Number.POSITIVE_INFINITY;
  }

  /** `others` sorted nearest-first from `from` (ties by code, so the order is stable). */
  nearestFirst(from: string, others: Iterable<string>): string[] {
    return [...others].sort((x, y) => this.rtt(from, x) - this.rtt(from, y) || (x < y ? -1 : x > y ? 1 : 0));
  }
}
