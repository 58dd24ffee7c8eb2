/**
 * The Step Functions API surface the local runtime serves: the engine in this directory implements
 * it, and the AWS JSON 1.0 stand-in (local/aws/sfn.ts, where it is defined) speaks it on the wire.
 */
export { type SfnBackend, SfnBackendError } from '../../aws/sfn.js';
