// Bundles bench/views.ts and runs it (see run-ts.mjs).
import { runBenchTs } from './run-ts.mjs';

await runBenchTs('views');
