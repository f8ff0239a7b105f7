#!/usr/bin/env node
// The CLI's entry: a supported Node.js first, then the process settings that keep memory bounded
// (which may replace this process with one that has them), and only then the program itself, so
// that nothing of it is loaded twice. ES modules evaluate their static imports in order.
import './runtime-check.js';
import { applyProcessSettings } from './process-settings.js';

applyProcessSettings();
await import('./program.js');
