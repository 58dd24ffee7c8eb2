/**
 * zod's functional, tree-shakable API (zod/mini) with English messages: import it as
 * `import * as z from '…/lib/zod.js'`. zod/mini, unlike zod's classic API, installs no locale of its
 * own: without this every default message would be "Invalid input", and the errors that name a field
 * and its problem ("Too small: expected number to be >=1") would lose the problem.
 *
 * Bundle size: a namespace import of this module (or of zod/mini) keeps only the functions used;
 * `import { z } from 'zod/mini'` hands over zod/mini's `z` object, which esbuild cannot tree-shake
 * (every schema, JSON Schema and compiler of zod, about 170 KB). `z.locales.en()` would likewise
 * reach every locale; `en` is imported on its own.
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
