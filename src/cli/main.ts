#!/usr/bin/env node
// The CLI's entry: a supported Node.js first, then the process settings that keep memory bounded
// (which may replace this process with one that has them), and only then the program itself, so
// that nothing of it is loaded twice. ES modules evaluate their static imports in order.
import './runtime-check.js';
import { enableCompileCache } from 'node:module';
import { applyProcessSettings } from './process-settings.js';

applyProcessSettings();
// V8's compiled code of the program's modules, kept between starts in the system's temporary
// directory (never in the package): a start loads about 650 modules
enableCompileCache();
await import('./program.js');
