export type { FabricSpec, LinkEnd, LinkSpec, NamespaceSpec } from './fabric-types.js';
export { MAX_IFNAME } from './fabric-types.js';
export {
  parseTopology,
  loadTopology,
  checkTopology,
  TopologyError,
  DEFAULT_ANYCAST,
  DEFAULT_POP_ASN,
  FIRST_CITY_ASN,
  MAX_CITIES,
  MAX_POP_HOSTS,
  type Topology,
  type TopologyCity,
  type TopologyLink,
  type TopologyFormat,
} from './topology.js';
export { presetNames, isPresetName, getPreset } from './presets.js';
export { computeCatchment, assertNoTies, describeCandidate, type Catchment, type CityCatchment, type Tie, type TieCandidate } from './catchment.js';
export {
  planLab,
  assertFabric,
  assertLabId,
  labNamespacePrefix,
  routerNamespace,
  popHostNamespace,
  clientNamespace,
  cityRouterId,
  popHostRouterId,
  type LabPlan,
  type PlanCity,
  type RouterPlan,
  type RouterNeighbour,
  type PopHostPlan,
  type ClientPlan,
} from './plan.js';
export { routerBirdConfig, type RouterConfigOptions } from './router-config.js';
