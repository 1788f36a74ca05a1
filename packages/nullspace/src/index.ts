export { nullSpace, NullProjector, type NullSpace, type NullSpaceOptions, type NullSpaceDiagnostics, type NullSpaceRule } from './nullspace.js';
export { q2nLayer, q2nRowScales, foldRowScales, type Q2nOptions, type Q2nReport } from './q2n.js';
