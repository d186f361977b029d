// The platform registry: the OCI distribution API at /v2/ on the control plane, one repository per
// app, with Starling's tokens; and the storage the control plane mirrors external images into.
export { RegistryStorage, UPLOAD_TTL_MS, repositoryOwner, type StoredManifest } from './storage.js';
export { CHALLENGE, registryRoutes, type RegistryAuth, type RegistryContext } from './routes.js';
export { DOCKER_LIST, DOCKER_MANIFEST, MANIFEST_MEDIA_TYPES, OCI_INDEX, OCI_MANIFEST, credentialOf, parseManifest, parseReference, type ParsedManifest } from './manifest.js';
