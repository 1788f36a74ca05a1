import { defineConfig } from 'tsup';
import { preset } from '../../tsup.preset.ts';
// `@llmpress/tensor/testing`: the backend conformance suite (vitest + fast-check, optional peers) and
// the data-path helpers. Code splitting, so both entries share one copy of Tensor and the ops.
export default defineConfig(preset({ index: 'src/index.ts', testing: 'src/testing/index.ts' }, { splitting: true, removeNodeProtocol: false }));
