import { defineConfig } from 'tsup';
import { preset } from '../../tsup.preset.ts';
export default defineConfig(preset({ index: 'src/index.ts', report: 'src/report/index.ts', main: 'src/main.ts' }, { platform: 'node' }));
