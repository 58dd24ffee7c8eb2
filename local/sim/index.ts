/**
 * SIMULATOR — the Engine API and Prometheus simulator for many-cluster scale tests
 * (docs/simulator.md). Real dockerd clusters (local/fleet) stay the truth for behaviour.
 */
export {
  type Filters,
  normalizeSpec,
  SIMULATOR_HEADER,
  SimApiError,
  SimCluster,
  type SimClusterOptions,
  SimFaults,
  type SimNetwork,
  type SimNode,
  type SimObject,
  type SimService,
  type SimTask,
  type TaskState,
} from './cluster.js';
export {
  engineHandler,
  handleEngineRequest,
  multiplex,
  SIMULATOR_VERSION,
  type SimEngine,
  type SimEngineOptions,
  startSimEngine,
} from './engine.js';
export {
  type SimFleet,
  type SimFleetMember,
  type SimFleetOptions,
  simTarget,
  startSimFleet,
} from './fleet.js';
export { PortRouter } from './ports.js';
export {
  answerQuery,
  ClusterSeries,
  prometheusHandler,
  type SimPrometheusOptions,
} from './prometheus.js';
export {
  DEMO_IMAGE_ENV,
  describeImage,
  parseReference,
  SIM_REGISTRY_HOST,
  type SimImage,
  type SimImageInput,
  SimRegistry,
  type SimRegistryOptions,
} from './registry.js';
