// Volumes on a host: ext4 images, loop-mounted, of a fixed size (docs/volumes.md).
export { VolumeStore, type VolumeRef, type VolumeStatus } from './store.js';
