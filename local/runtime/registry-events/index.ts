export {
  type RegistryEventListener,
  type RegistryEventListenerOptions,
  startRegistryEventListener,
} from './listener.js';
export {
  type EcrImageActionDetail,
  type EcrImageActionEvent,
  isManifestEvent,
  MANIFEST_MEDIA_TYPES,
  type RegistryEnvelope,
  type RegistryEvent,
  toEcrImageActionEvents,
} from './translate.js';
