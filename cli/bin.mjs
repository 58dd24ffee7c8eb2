#!/usr/bin/env node
// The package's `deployer` bin: runs the TypeScript CLI (cli/main.ts) through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
