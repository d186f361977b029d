// Secrets: encryption at rest and the digests shown in their place. The store and API that use
// them live alongside; other parts import only this file.
export {
  DEFAULT_KEY_ENV,
  KEY_BYTES,
  createSecretsKeyFile,
  decryptSecret,
  digest,
  encryptSecret,
  loadSecretsKey,
  parseSecretsKey,
  type LoadSecretsKeyOptions,
  type SecretRef,
} from './crypto.js';
