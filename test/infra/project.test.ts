/**
 * infra/Pulumi.yaml: the project name the stack configuration keys use, and the runtime options
 * Pulumi's Node.js language host runs index.ts with (`node <nodeargs> <run wrapper> index.ts`). The
 * Pulumi CLI is not on this machine, so the wrapper and the engine are not run: the program is
 * loaded with the project's own node arguments, which must carry it through its whole module graph.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROJECT } from '../../infra/config.js';
import { programNodeArgs } from '../../local/twin/model.js';

const INFRA = new URL('../../infra/', import.meta.url).pathname;
const NODE = new URL('../../node_modules/.bin/node', import.meta.url).pathname;

describe('infra/Pulumi.yaml', () => {
  const project = parse(readFileSync(join(INFRA, 'Pulumi.yaml'), 'utf8')) as {
    name: string;
    main: string;
    runtime: { name: string; options: Record<string, unknown> };
  };

  it('names the project the configuration keys use, and a main file that exists', () => {
    // Assert
    expect(project.name).toBe(PROJECT);
    expect(existsSync(join(INFRA, project.main))).toBe(true);
    expect(project.runtime.name).toBe('nodejs');
  });

  it('loads the TypeScript program with tsx (Pulumi’s own TypeScript loader is off), as the twin does', () => {
    // Assert
    expect(project.runtime.options.typescript).toBe(false);
    expect(programNodeArgs()).toEqual(['--import', 'tsx']);
  });

  it('with those node arguments, the whole program loads and stops at its first line without stack config', () => {
    // Act: the program as the language host starts it, minus the run wrapper and the engine.
    const run = spawnSync(NODE, [...programNodeArgs(), project.main], {
      cwd: INFRA,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
      timeout: 60_000,
    });
    // Assert: every module imported (static imports load before the first line runs), then the
    // program's own configuration error, naming the keys to set.
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('StackConfigError: invalid stack configuration');
    expect(run.stderr).toContain('stack config aws:region: required');
    expect(run.stderr).toContain(`stack config ${PROJECT}:services: required`);
    expect(run.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|ERR_UNKNOWN_FILE_EXTENSION|SyntaxError/);
  });
});
