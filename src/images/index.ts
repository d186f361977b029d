/** OCI images: references, registries (pull and push), layers, and the host image store. */
export * from './types.js';
export * from './reference.js';
export * from './manifest.js';
export * from './registry-auth.js';
export * from './registry-client.js';
export * from './tar-safety.js';
export * from './unpack.js';
export * from './store.js';
export * from './one-layer.js';
export * from './pull.js';
export * from './layer-image.js';
