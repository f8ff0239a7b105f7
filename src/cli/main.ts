#!/usr/bin/env node
// The CLI's entry: a supported Node.js first, then the process settings that keep memory bounded
// (which may replace this process with one that has them), and only then the program itself, so
// that nothing of it is loaded twice. ES modules evaluate their static imports in order.
import './runtime-check.js';
// (the module object, not a named import: on an older Node.js that lacks the function, the
// runtime check must still get to say so)
import nodeModule from 'node:module';
import { applyProcessSettings } from './process-settings.js';

applyProcessSettings();
// V8's compiled code of the program's modules, kept between starts in the system's temporary
// directory (never in the package): a start loads about 650 modules
nodeModule.enableCompileCache();
await import('./program.js');
