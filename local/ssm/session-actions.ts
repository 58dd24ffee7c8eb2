import { AwsJsonError, type AwsJsonRouter, requireString, type VerifiedCaller } from './aws-json.js';
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
  hooks: SessionHooks = {},
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
    const started = gateway.startSession({
      target,
      documentName,
      document: document.content,
      parameters,
      streamHost: context.host,
      principal:
        context.caller === undefined ? principalOf(context.accessKeyId) : sessionPrefix(context.caller.name),
    });
    hooks.onSessionStarted?.({
      sessionId: started.SessionId,
      target,
      ...(context.caller === undefined ? {} : { caller: context.caller }),
    });
    return started;
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

export interface SessionHooks {
  /** Called once a session started (the IAM layer records who owns it). */
  onSessionStarted?(session: { sessionId: string; target: string; caller?: VerifiedCaller }): void;
}

/**
 * Session ids start with the caller's name on AWS; without verified callers the access key id
 * stands in for it.
 */
function principalOf(accessKeyId: string | undefined): string {
  const cleaned = (accessKeyId ?? 'stand-in').replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 32);
  return cleaned === '' ? 'stand-in' : cleaned;
}

/** A verified caller's name (role session name or user name) as a session id prefix. */
function sessionPrefix(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64);
  return cleaned === '' ? 'stand-in' : cleaned;
}
