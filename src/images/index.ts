/** OCI images: references, registries (pull and push), layers, and the host image store. */
export * from './types.js';
export * from './reference.js';
export * from './tar-safety.js';
export * from './unpack.js';
export * from './store.js';
export * from './one-layer.js';
