export { SHAPES, blockTensors, type ShapePreset, type ShapeName } from './shapes.js';
export { syntheticWeight } from './synthetic.js';
export { JournalMismatchError, OutputWriteError } from './errors.js';
