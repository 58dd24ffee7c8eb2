/**
 * Session documents the stand-in knows, shaped like the AWS-managed ones (aws ssm get-document),
 * and the `{{ name }}` parameter substitution the agent applies to their properties.
 */

export interface DocumentParameter {
  type: 'String';
  description?: string;
  default?: string;
  allowedPattern?: string;
}

export interface SessionDocumentContent {
  schemaVersion: string;
  description: string;
  sessionType: string;
  parameters: Record<string, DocumentParameter>;
  properties: Record<string, string>;
}

export interface SessionDocument {
  name: string;
  content: SessionDocumentContent;
}

const PORT_PATTERN =
  '^([1-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$';
const LOCAL_PORT_PATTERN =
  '^([0-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$';

export const BUILTIN_DOCUMENTS: readonly SessionDocument[] = [
  {
    name: 'AWS-StartPortForwardingSession',
    content: {
      schemaVersion: '1.0',
      description: 'Document to start port forwarding session over Session Manager',
      sessionType: 'Port',
      parameters: {
        portNumber: {
          type: 'String',
          description: '(Optional) Port number of the server on the instance',
          allowedPattern: PORT_PATTERN,
          default: '80',
        },
        localPortNumber: {
          type: 'String',
          description: '(Optional) Port number on local machine to forward traffic to.',
          allowedPattern: LOCAL_PORT_PATTERN,
          default: '0',
        },
      },
      properties: {
        portNumber: '{{ portNumber }}',
        type: 'LocalPortForwarding',
        localPortNumber: '{{ localPortNumber }}',
      },
    },
  },
  {
    name: 'AWS-StartPortForwardingSessionToRemoteHost',
    content: {
      schemaVersion: '1.0',
      description: 'Document to start port forwarding session over Session Manager to a remote host',
      sessionType: 'Port',
      parameters: {
        host: { type: 'String', description: '(Required) Hostname or IP address of the destination server' },
        portNumber: {
          type: 'String',
          description: '(Optional) Port number of the server on the instance',
          allowedPattern: PORT_PATTERN,
          default: '80',
        },
        localPortNumber: {
          type: 'String',
          description: '(Optional) Port number on local machine to forward traffic to.',
          allowedPattern: LOCAL_PORT_PATTERN,
          default: '0',
        },
      },
      properties: {
        portNumber: '{{ portNumber }}',
        type: 'LocalPortForwarding',
        localPortNumber: '{{ localPortNumber }}',
        host: '{{ host }}',
      },
    },
  },
  {
    name: 'AWS-StartSSHSession',
    content: {
      schemaVersion: '1.0',
      description: 'Document to start SSH session over Session Manager',
      sessionType: 'Port',
      parameters: {
        portNumber: {
          type: 'String',
          description: '(Optional) Port number of SSH server on the instance',
          allowedPattern: PORT_PATTERN,
          default: '22',
        },
      },
      properties: { portNumber: '{{ portNumber }}' },
    },
  },
];

export class DocumentParameterError extends Error {
  override readonly name = 'DocumentParameterError';
}

/**
 * Checks StartSession `Parameters` against the document and returns every parameter's value
 * (given or default). @throws DocumentParameterError
 */
export function resolveParameters(
  document: SessionDocumentContent,
  given: Record<string, unknown> | undefined,
): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, raw] of Object.entries(given ?? {})) {
    const definition = document.parameters[name];
    if (definition === undefined)
      throw new DocumentParameterError(`parameter "${name}" is not defined in the document`);
    if (!Array.isArray(raw) || raw.length !== 1 || typeof raw[0] !== 'string') {
      throw new DocumentParameterError(`parameter "${name}" must be a list of one string`);
    }
    const value = raw[0];
    if (definition.allowedPattern !== undefined && !new RegExp(definition.allowedPattern).test(value)) {
      throw new DocumentParameterError(
        `parameter "${name}" value "${value}" does not match ${definition.allowedPattern}`,
      );
    }
    values[name] = value;
  }
  for (const [name, definition] of Object.entries(document.parameters)) {
    if (values[name] !== undefined) continue;
    if (definition.default === undefined) throw new DocumentParameterError(`parameter "${name}" is required`);
    values[name] = definition.default;
  }
  return values;
}

/** Replaces `{{ name }}` in every property with the parameter's value, as the agent's docparser does. */
export function substituteProperties(
  properties: Record<string, string>,
  values: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, template] of Object.entries(properties)) {
    out[key] = template.replace(
      /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g,
      (match, name: string) => values[name] ?? match,
    );
  }
  return out;
}
