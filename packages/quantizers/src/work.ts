/**
 * Internal (not exported from the package): the quantizers' work arrays are the one `Workspace` of
 * @llmpress/tensor (backend-resident f64 arrays), resident only from 4096 elements up.
 */
import { Workspace, type Backend } from '@llmpress/tensor';

export class Work extends Workspace {
  constructor(backend: Backend | undefined) {
    super(backend, { minResident: 4096 });
  }
}
