// Scheduler: where an app's machines go. Placement is pure (a snapshot in, a plan out); the code
// that reads hosts from the state store and carries plans out lives alongside and imports this.
export {
  NoCapacityError,
  hostViews,
  pickHostFor,
  pickHostPreferring,
  planScaleCount,
  type HostView,
  type MachinePlacement,
  type PickHostOptions,
  type PlacementPlan,
  type PlacementTarget,
  type ScaleCountRequest,
  type Shortfall,
} from './placement.js';
export { planScaleGroups, type GroupPlacement, type GroupScalePlan, type GroupScaleRequest } from './scale-groups.js';
export { freeVolumes, limitToVolumes, noVolume, takeVolume, type VolumeView } from './volumes.js';
