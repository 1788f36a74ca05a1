// @stdlib/blas has no `exports` map, so ESM needs the full file path; its bundled types cover
// only the directory path. The reference backend calls these through a typed wrapper.
declare module '@stdlib/blas/base/*/lib/ndarray.js' {
  const routine: any;
  export default routine;
}
