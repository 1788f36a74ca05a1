import { createReferenceBackend } from './reference-backend.js';
import { describeBackendConformance } from './testing/conformance.js';

describeBackendConformance('reference', () => createReferenceBackend(), { numRuns: 15, maxDim: 60 });
