import { AwsJsonError, type AwsJsonRouter, requireString } from './aws-json.js';
import {
  BUILTIN_DOCUMENTS,
  DocumentParameterError,
  resolveParameters,
  type SessionDocument,
} from './documents.js';
import type { MessageGateway } from './mgs.js';

/**
 * The Session Manager actions of the SSM API (AmazonSSM.StartSession, TerminateSession,
 * ResumeSession) over the stand-in's message gateway. Shapes follow the SDK models
 * (StartSessionRequest/Response and friends); errors use the SDK's exception names.
 */
export function registerSessionActions(
  router: AwsJsonRouter,
  gateway: MessageGateway,
  documents: Map<string, SessionDocument> = new Map(
    BUILTIN_DOCUMENTS.map((document) => [document.name, document]),
  ),
): void {
  router.register('StartSession', (input, context) => {
    const target = requireString(input, 'Target');
    const documentName = typeof input.DocumentName === 'string' ? input.DocumentName : undefined;
    if (documentName === undefined) {
      throw new AwsJsonError(
        'InvalidDocument',
        'the stand-in serves Port sessions only: give a DocumentName',
      );
    }
    const document = documents.get(documentName);
    if (document === undefined)
      throw new AwsJsonError('InvalidDocument', `Document ${documentName} does not exist`);
    if (!gateway.isKnownTarget(target)) {
      throw new AwsJsonError('InvalidTarget', `${target} is not a managed instance of this account`);
    }
    if (!gateway.isAgentConnected(target))
      throw new AwsJsonError('TargetNotConnected', `${target} is not connected.`);
    let parameters: Record<string, string>;
    try {
      parameters = resolveParameters(
        document.content,
        input.Parameters as Record<string, unknown> | undefined,
      );
    } catch (error) {
      if (error instanceof DocumentParameterError)
        throw new AwsJsonError('ValidationException', error.message);
      throw error;
    }
    return gateway.startSession({
      target,
      documentName,
      document: document.content,
      parameters,
      streamHost: context.host,
      principal: principalOf(context.accessKeyId),
    });
  });

  router.register('TerminateSession', (input) => {
    const sessionId = requireString(input, 'SessionId');
    gateway.terminateSession(sessionId);
    return { SessionId: sessionId };
  });

  router.register('ResumeSession', (input, context) => {
    const sessionId = requireString(input, 'SessionId');
    const resumed = gateway.resumeSession(sessionId, context.host);
    if (resumed === undefined)
      throw new AwsJsonError('DoesNotExistException', `Session ${sessionId} does not exist or has ended`);
    return resumed;
  });
}

/** Session ids start with the caller's name on AWS; the access key id stands in for it here. */
function principalOf(accessKeyId: string | undefined): string {
  const cleaned = (accessKeyId ?? 'stand-in').replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 32);
  return cleaned === '' ? 'stand-in' : cleaned;
}
