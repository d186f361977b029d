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
export { DEFAULT_ANYCAST6, LAB_SPACE6 } from './lab-addresses.js';
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
export { controlNamespace, CONTROL_PORT, type ControlPlan } from './plan.js';
export { buildFabric, teardownLab, spawnIn, execIn, silenceLink, restoreLink, validateFabricSpec, type FabricOptions, type FabricReport, type TeardownReport } from './fabric.js';
export { LabState, listLabs, readLabState, isRecordedAlive, STATE_FILE, type LabStateData, type RecordedProcess, type LabListing } from './lab-state.js';
export {
  startUserNamespaceHolder,
  stopUserNamespaceHolder,
  readUserNamespaceHolder,
  userNamespaceCommand,
  isRoot,
  inUserNamespace,
  runCommand,
  CommandError,
  type UserNamespaceHolder,
  type RunOptions,
} from './userns.js';
export { openLab, labDir, findPopHosts, failures, LAB_BASE_DIR, DEFAULT_LAB, DEMO_APP, APPS_DOMAIN, type LabContext, type FailMode } from './lab-context.js';
export { holderDir, holderHasLab, runsDirectly, rerunInHolder, stopHolder } from './lab-userns.js';
export { labUp, type LabUpOptions, type LabUpReport, type LabStep } from './lab-up.js';
export { measureCatchment, probeOnce, startProbe, type CatchmentRow, type ProbeLine, type ProbeRun } from './probe.js';
export { routerViews, type RouterView, type SessionView, type AnnounceState } from './lab-routers.js';
export { namespaceFor, labRootPath } from './lab-context.js';
export { failPop, healPop, assertFailMode, downPops, waitRoutersConverged, FAIL_MODES } from './lab-fail.js';
export { failover, summarizeCity, FAILOVER_EVERY_MS, FAILOVER_TIMEOUT_MS, type FailoverReport, type FailoverCity } from './failover.js';
export { labStatus, type LabStatus, type PopHostStatus } from './lab-status.js';
export { labCertificates, type LabCertificate } from './lab-certs.js';
export { labRootPem, labTrust, labCa, type LabCa } from './lab-ca.js';
export { labDown, type LabDownReport } from './lab-down.js';
export { labControlAccess, type LabControlAccess } from './lab-access.js';
export { labMeshInterface, labMeshProcesses } from './lab-mesh.js';
