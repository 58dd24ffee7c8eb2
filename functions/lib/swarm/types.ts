/**
 * The slices of the Engine API's swarm objects that the operations read and write. Specs are kept
 * whole (as `unknown` beyond these fields) so that a snapshot restores exactly what was there.
 */

export interface PortConfig {
  Protocol?: string;
  TargetPort?: number;
  PublishedPort?: number;
  PublishMode?: 'ingress' | 'host';
}

export interface NetworkAttachment {
  Target: string;
  Aliases?: string[];
  [k: string]: unknown;
}

export interface UpdateConfig {
  Parallelism?: number;
  Delay?: number;
  FailureAction?: 'pause' | 'continue' | 'rollback';
  Monitor?: number;
  MaxFailureRatio?: number;
  Order?: 'stop-first' | 'start-first';
}

export interface ServiceSpec {
  Name: string;
  Labels?: Record<string, string>;
  TaskTemplate: {
    ContainerSpec: { Image: string; Labels?: Record<string, string>; [k: string]: unknown };
    Networks?: NetworkAttachment[];
    Placement?: { Constraints?: string[]; MaxReplicas?: number; [k: string]: unknown };
    [k: string]: unknown;
  };
  Mode?: { Replicated?: { Replicas?: number }; Global?: Record<string, never>; [k: string]: unknown };
  UpdateConfig?: UpdateConfig;
  RollbackConfig?: UpdateConfig;
  Networks?: NetworkAttachment[];
  EndpointSpec?: { Mode?: string; Ports?: PortConfig[] };
  [k: string]: unknown;
}

export interface Service {
  ID: string;
  Version: { Index: number };
  Spec: ServiceSpec;
  UpdateStatus?: { State?: string; Message?: string; StartedAt?: string; CompletedAt?: string };
}

export interface Task {
  ID: string;
  Slot?: number;
  NodeID?: string;
  CreatedAt?: string;
  DesiredState: string;
  Spec: { ContainerSpec?: { Image?: string } };
  Status: {
    State: string;
    Err?: string;
    Message?: string;
    Timestamp?: string;
    ContainerStatus?: { ExitCode?: number; ContainerID?: string };
  };
}

export interface Node {
  ID: string;
  Spec?: { Role?: string; Availability?: string };
  Status?: { State?: string; Addr?: string };
  ManagerStatus?: { Leader?: boolean; Reachability?: string; Addr?: string };
  Description?: { Hostname?: string };
}

/** Who is acting: one deployment of one service on one cluster. */
export interface DeploymentRef {
  deploymentId: string;
  cluster: string;
  service: string;
}

/** The rollback truth for one cluster: the service exactly as it was before we touched it. */
export interface Snapshot {
  cluster: string;
  service: string;
  serviceId: string;
  specVersion: number;
  spec: ServiceSpec;
  image: string;
  digest: string | null;
  replicas: number | null;
  takenAt: string;
}

/** The update_config and rollback_config the policy sets explicitly on promotion (seconds, not ns). */
export interface UpdatePolicy {
  parallelism: number;
  delaySeconds: number;
  monitorSeconds: number;
  failureAction: 'pause' | 'continue' | 'rollback';
  maxFailureRatio: number;
  order: 'stop-first' | 'start-first';
}

export type ProgressVerdict = 'converged' | 'progressing' | 'failed';

export interface TaskFailure {
  taskId: string;
  slot: number | null;
  state: string;
  error: string;
  exitCode: number | null;
  at: string | null;
}

export interface Progress {
  cluster: string;
  service: string;
  image: string;
  verdict: ProgressVerdict;
  /** Why it failed or what it waits for, in a sentence. */
  reason: string;
  /** For a failed verdict: the error name the workflow routes on. */
  errorName: string | null;
  desired: number;
  runningOnTarget: number;
  runningOther: number;
  failedTasks: TaskFailure[];
  updateState: string | null;
  updateMessage: string | null;
  /** A hash of each part of the service's spec as the engine has it (swarm/spec.ts specParts). */
  specParts: Record<string, string>;
}
