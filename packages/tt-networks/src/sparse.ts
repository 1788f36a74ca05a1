/**
 * Sparse corrections E (m × n) with honest byte counts and their sparse × dense kernels:
 * - `CsrMatrix`: unstructured, f32 values, column indices in the narrowest unsigned width that
 *   holds n − 1 (1, 2 or 4 bytes), row pointers in the narrowest width that holds nnz.
 * - `Sparse24Matrix`: 2:4 structured — in each group of 4 consecutive input columns of a covered
 *   row, 2 f32 values and their 2-bit positions (4 positions per byte). Rows may be covered
 *   selectively (for budgets below a full 2:4 layer); the covered-row list is counted too.
 */
import { ArgumentError, ShapeError, Tensor, type SerializedLayer } from '@llmpress/tensor';

type UIntArray = Uint8Array | Uint16Array | Uint32Array;

/** Narrowest unsigned width (bytes) that holds `maxValue`. */
export function indexWidth(maxValue: number): 1 | 2 | 4 {
  return maxValue <= 0xff ? 1 : maxValue <= 0xffff ? 2 : 4;
}
function allocU(width: 1 | 2 | 4, n: number): UIntArray {
  return width === 1 ? new Uint8Array(n) : width === 2 ? new Uint16Array(n) : new Uint32Array(n);
}
function toBytes(a: UIntArray): Uint8Array {
  // little-endian bytes (typed arrays are little-endian on every platform llmpress runs on; write explicitly)
  const w = a.BYTES_PER_ELEMENT;
  const out = new Uint8Array(a.length * w);
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    for (let b = 0; b < w; b++) out[i * w + b] = (v >>> (8 * b)) & 0xff;
  }
  return out;
}
function fromBytes(b: Uint8Array, width: 1 | 2 | 4, n: number, fn: string, arg: string): UIntArray {
  if (b.length !== n * width) throw new ShapeError(fn, `tensors.${arg} has ${b.length} bytes, expected ${n}·${width}`);
  const out = allocU(width, n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (let k = 0; k < width; k++) v += b[i * width + k]! * 2 ** (8 * k);
    out[i] = v;
  }
  return out;
}

export interface SparseMatrix {
  readonly format: 'csr' | '2:4';
  readonly rows: number;
  readonly cols: number;
  /** Stored values. */
  readonly nnz: number;
  /** Values + every index byte. */
  bytes(): number;
  /** y (T × rows) += x (T × cols) · Eᵀ, raw row-major f32. */
  addMatmulT(x: Float32Array, T: number, y: Float32Array): void;
  toDense(): Float32Array;
  serialize(prefix: string): { meta: SerializedLayer['meta']; tensors: Record<string, Tensor> };
}

/**
 * Indices of the `k` largest scores (ties broken by lower index), sorted ascending.
 * The threshold comes from a native numeric sort of a copy of the scores (fast even for 45M
 * entries); NaN scores rank lowest.
 */
export function topK(score: ArrayLike<number>, k: number): Uint32Array {
  const n = score.length;
  k = Math.max(0, Math.min(k, n));
  const out = new Uint32Array(k);
  if (k === 0) return out;
  const sorted = Float64Array.from(score as ArrayLike<number>, (v) => (Number.isNaN(v) ? -Infinity : v));
  sorted.sort();
  const thr = sorted[n - k]!;
  let above = 0;
  for (let i = n - k + 1; i < n; i++) if (sorted[i]! > thr) above++;
  let ties = k - above; // entries equal to thr to keep, lowest indices first
  let t = 0;
  for (let i = 0; i < n && t < k; i++) {
    const v = Number.isNaN(score[i]!) ? -Infinity : score[i]!;
    if (v > thr) out[t++] = i;
    else if (v === thr && ties > 0) {
      out[t++] = i;
      ties--;
    }
  }
  return out;
}

export class CsrMatrix implements SparseMatrix {
  readonly format = 'csr' as const;
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly rowPtr: UIntArray,
    readonly colIdx: UIntArray,
    readonly values: Float32Array,
  ) {
    const fn = 'CsrMatrix';
    if (rowPtr.length !== rows + 1) throw new ShapeError(fn, `rowPtr has length ${rowPtr.length}, expected rows + 1 = ${rows + 1}`);
    if (colIdx.length !== values.length) throw new ShapeError(fn, `colIdx (${colIdx.length}) and values (${values.length}) differ in length`);
    if (rowPtr[0] !== 0 || rowPtr[rows] !== values.length) throw new ArgumentError(fn, 'rowPtr', rowPtr, `must start at 0 and end at nnz = ${values.length}`);
    for (let i = 0; i < rows; i++) if (rowPtr[i + 1]! < rowPtr[i]!) throw new ArgumentError(fn, 'rowPtr', rowPtr, 'must be non-decreasing');
    for (let i = 0; i < colIdx.length; i++) if (colIdx[i]! >= cols) throw new ArgumentError(fn, `colIdx[${i}]`, colIdx[i], `must be < cols = ${cols}`);
  }
  get nnz(): number {
    return this.values.length;
  }

  /** Keeps the `nnz` entries of r (row-major m × n) with the largest `score` (default |r|). */
  static fromTopK(r: ArrayLike<number>, m: number, n: number, nnz: number, score?: ArrayLike<number>): CsrMatrix {
    const fn = 'CsrMatrix.fromTopK';
    if (r.length !== m * n) throw new ShapeError(fn, `argument 'r' has ${r.length} values, expected ${m}·${n}`);
    if (!Number.isInteger(nnz) || nnz < 0) throw new ArgumentError(fn, 'nnz', nnz, 'must be a non-negative integer');
    const sc = score ?? Float64Array.from(r as ArrayLike<number>, Math.abs);
    const keep = topK(sc, nnz);
    const k = keep.length;
    const rowPtr = allocU(indexWidth(k), m + 1);
    const colIdx = allocU(indexWidth(Math.max(0, n - 1)), k);
    const values = new Float32Array(k);
    for (let t = 0; t < k; t++) {
      const f = keep[t]!,
        i = Math.floor(f / n);
      colIdx[t] = f - i * n;
      values[t] = r[f]!;
      rowPtr[i + 1]!++;
    }
    for (let i = 0; i < m; i++) rowPtr[i + 1] = rowPtr[i + 1]! + rowPtr[i]!;
    return new CsrMatrix(m, n, rowPtr, colIdx, values);
  }

  /** Bytes for a CSR matrix of this size: 4·nnz values + column indices + row pointers. */
  static bytesFor(m: number, n: number, nnz: number): number {
    return 4 * nnz + indexWidth(Math.max(0, n - 1)) * nnz + indexWidth(nnz) * (m + 1);
  }
  /** Largest nnz whose `bytesFor` fits in `bytes` (0 if none). */
  static nnzForBytes(m: number, n: number, bytes: number): number {
    let lo = 0,
      hi = m * n;
    if (CsrMatrix.bytesFor(m, n, 0) > bytes) return 0;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (CsrMatrix.bytesFor(m, n, mid) <= bytes) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  bytes(): number {
    return 4 * this.values.length + this.colIdx.BYTES_PER_ELEMENT * this.colIdx.length + this.rowPtr.BYTES_PER_ELEMENT * this.rowPtr.length;
  }

  addMatmulT(x: Float32Array, T: number, y: Float32Array): void {
    const { rows, cols, rowPtr, colIdx, values } = this;
    for (let t = 0; t < T; t++) {
      const xo = t * cols,
        yo = t * rows;
      for (let i = 0; i < rows; i++) {
        let s = 0;
        for (let p = rowPtr[i]!, e = rowPtr[i + 1]!; p < e; p++) s += values[p]! * x[xo + colIdx[p]!]!;
        y[yo + i] += s;
      }
    }
  }

  toDense(): Float32Array {
    const w = new Float32Array(this.rows * this.cols);
    for (let i = 0; i < this.rows; i++) for (let p = this.rowPtr[i]!; p < this.rowPtr[i + 1]!; p++) w[i * this.cols + this.colIdx[p]!] = this.values[p]!;
    return w;
  }

  serialize(prefix: string) {
    return {
      meta: {
        [`${prefix}format`]: 'csr',
        [`${prefix}rows`]: this.rows,
        [`${prefix}cols`]: this.cols,
        [`${prefix}colWidth`]: this.colIdx.BYTES_PER_ELEMENT,
        [`${prefix}ptrWidth`]: this.rowPtr.BYTES_PER_ELEMENT,
      },
      tensors: {
        [`${prefix}values`]: new Tensor('f32', this.values.slice(), [this.values.length]),
        [`${prefix}colIdx`]: new Tensor('u8', toBytes(this.colIdx), [this.colIdx.length * this.colIdx.BYTES_PER_ELEMENT]),
        [`${prefix}rowPtr`]: new Tensor('u8', toBytes(this.rowPtr), [this.rowPtr.length * this.rowPtr.BYTES_PER_ELEMENT]),
      },
    };
  }
}

export class Sparse24Matrix implements SparseMatrix {
  readonly format = '2:4' as const;
  /**
   * @param rowList covered rows, ascending (null = every row, stored as a flag: 0 bytes)
   * @param values  2 values per group of 4 columns per covered row: length covered · cols / 2
   * @param pos     2-bit positions (0..3) of the values, 4 per byte, in value order
   */
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly rowList: UIntArray | null,
    readonly values: Float32Array,
    readonly pos: Uint8Array,
  ) {
    const fn = 'Sparse24Matrix';
    if (cols % 4 !== 0) throw new ArgumentError(fn, 'cols', cols, 'must be a multiple of 4 for 2:4 sparsity');
    const covered = rowList ? rowList.length : rows;
    if (values.length !== (covered * cols) / 2)
      throw new ShapeError(fn, `values has ${values.length} entries, expected covered rows · cols / 2 = ${(covered * cols) / 2}`);
    if (pos.length !== Math.ceil(values.length / 4)) throw new ShapeError(fn, `pos has ${pos.length} bytes, expected ceil(${values.length} / 4)`);
    if (rowList)
      for (let i = 0; i < rowList.length; i++)
        if (rowList[i]! >= rows || (i > 0 && rowList[i]! <= rowList[i - 1]!))
          throw new ArgumentError(fn, 'rowList', rowList, `must be strictly increasing row indices < ${rows}`);
  }
  get nnz(): number {
    return this.values.length;
  }
  get coveredRows(): number {
    return this.rowList ? this.rowList.length : this.rows;
  }

  static bytesFor(m: number, n: number, coveredRows: number): number {
    const nv = (coveredRows * n) / 2;
    return 4 * nv + Math.ceil(nv / 4) + (coveredRows === m ? 0 : indexWidth(Math.max(0, m - 1)) * coveredRows);
  }
  /** Most covered rows whose `bytesFor` fits in `bytes`. */
  static rowsForBytes(m: number, n: number, bytes: number): number {
    if (Sparse24Matrix.bytesFor(m, n, m) <= bytes) return m;
    let best = 0;
    for (let r = 1; r < m; r++)
      if (Sparse24Matrix.bytesFor(m, n, r) <= bytes) best = r;
      else break;
    return best;
  }

  /**
   * From a residual r (m × n): in each group of 4 columns keep the 2 entries of largest score
   * (default |r|); cover the `coveredRows` rows whose kept score is largest.
   */
  static fromDense(r: ArrayLike<number>, m: number, n: number, coveredRows = m, score?: ArrayLike<number>): Sparse24Matrix {
    const fn = 'Sparse24Matrix.fromDense';
    if (r.length !== m * n) throw new ShapeError(fn, `argument 'r' has ${r.length} values, expected ${m}·${n}`);
    if (n % 4 !== 0) throw new ArgumentError(fn, 'n', n, 'must be a multiple of 4 for 2:4 sparsity');
    if (!Number.isInteger(coveredRows) || coveredRows < 0 || coveredRows > m)
      throw new ArgumentError(fn, 'coveredRows', coveredRows, `must be an integer in 0..${m}`);
    const sc = score ?? Float64Array.from(r as ArrayLike<number>, Math.abs);
    const g = n / 4;
    // per group the two best positions
    const pick = new Uint8Array(m * g * 2);
    const rowGain = new Float64Array(m);
    for (let i = 0; i < m; i++)
      for (let q = 0; q < g; q++) {
        const o = i * n + 4 * q;
        let b0 = 0,
          b1 = 1;
        if (sc[o + 1]! > sc[o]!) {
          b0 = 1;
          b1 = 0;
        }
        for (let p = 2; p < 4; p++) {
          const v = sc[o + p]!;
          if (v > sc[o + b0]!) {
            b1 = b0;
            b0 = p;
          } else if (v > sc[o + b1]!) b1 = p;
        }
        const lo = Math.min(b0, b1),
          hi = Math.max(b0, b1);
        pick[(i * g + q) * 2] = lo;
        pick[(i * g + q) * 2 + 1] = hi;
        rowGain[i] += sc[o + lo]! + sc[o + hi]!;
      }
    const rowsSel = coveredRows === m ? null : topK(rowGain, coveredRows);
    const covered = rowsSel ? rowsSel.length : m;
    const values = new Float32Array((covered * n) / 2);
    const pos = new Uint8Array(Math.ceil(values.length / 4));
    let v = 0;
    for (let c = 0; c < covered; c++) {
      const i = rowsSel ? rowsSel[c]! : c;
      for (let q = 0; q < g; q++)
        for (let t = 0; t < 2; t++) {
          const p = pick[(i * g + q) * 2 + t]!;
          values[v] = r[i * n + 4 * q + p]!;
          pos[v >> 2] |= p << ((v & 3) * 2);
          v++;
        }
    }
    let rowList: UIntArray | null = null;
    if (rowsSel) {
      rowList = allocU(indexWidth(Math.max(0, m - 1)), rowsSel.length);
      rowList.set(rowsSel);
    }
    return new Sparse24Matrix(m, n, rowList, values, pos);
  }

  bytes(): number {
    return 4 * this.values.length + this.pos.length + (this.rowList ? this.rowList.BYTES_PER_ELEMENT * this.rowList.length : 0);
  }

  addMatmulT(x: Float32Array, T: number, y: Float32Array): void {
    const { rows, cols, rowList, values, pos } = this;
    const covered = this.coveredRows;
    const half = cols / 2;
    // decode one row's 2-bit positions into column indices once, reuse them for every token
    const col = new Int32Array(half);
    for (let c = 0; c < covered; c++) {
      const i = rowList ? rowList[c]! : c;
      const v0 = c * half;
      for (let k = 0; k < half; k += 2) {
        const v = v0 + k;
        const b = pos[v >> 2]! >> ((v & 3) * 2); // v is even: both positions sit in this byte
        const base = 2 * k; // 4 · (k / 2)
        col[k] = base + (b & 3);
        col[k + 1] = base + ((b >> 2) & 3);
      }
      for (let t = 0; t < T; t++) {
        const xo = t * cols;
        let s = 0;
        for (let k = 0; k < half; k++) s += values[v0 + k]! * x[xo + col[k]!]!;
        y[t * rows + i] += s;
      }
    }
  }

  toDense(): Float32Array {
    const w = new Float32Array(this.rows * this.cols);
    const half = this.cols / 2;
    for (let c = 0; c < this.coveredRows; c++) {
      const i = this.rowList ? this.rowList[c]! : c;
      for (let k = 0; k < half; k++) {
        const v = c * half + k;
        const p = (this.pos[v >> 2]! >> ((v & 3) * 2)) & 3;
        w[i * this.cols + 4 * (k >> 1) + p] = this.values[v]!;
      }
    }
    return w;
  }

  serialize(prefix: string) {
    const meta: SerializedLayer['meta'] = {
      [`${prefix}format`]: '2:4',
      [`${prefix}rows`]: this.rows,
      [`${prefix}cols`]: this.cols,
      [`${prefix}rowWidth`]: this.rowList ? this.rowList.BYTES_PER_ELEMENT : 0,
    };
    const tensors: Record<string, Tensor> = {
      [`${prefix}values`]: new Tensor('f32', this.values.slice(), [this.values.length]),
      [`${prefix}pos`]: new Tensor('u8', this.pos.slice(), [this.pos.length]),
    };
    if (this.rowList) tensors[`${prefix}rowList`] = new Tensor('u8', toBytes(this.rowList), [this.rowList.length * this.rowList.BYTES_PER_ELEMENT]);
    return { meta, tensors };
  }
}

/** Rebuilds a sparse part written by `serialize(prefix)`; returns null when none was stored. */
export function deserializeSparse(s: SerializedLayer, prefix: string, fn: string): SparseMatrix | null {
  const format = s.meta[`${prefix}format`];
  if (format === undefined) return null;
  const rows = Number(s.meta[`${prefix}rows`]),
    cols = Number(s.meta[`${prefix}cols`]);
  const bytesOf = (name: string) => {
    const t = s.tensors[`${prefix}${name}`];
    if (!t || t.dtype !== 'u8') throw new ArgumentError(fn, `tensors.${prefix}${name}`, t, 'must be a u8 tensor');
    return t.contiguous().data as Uint8Array;
  };
  const vt = s.tensors[`${prefix}values`];
  if (!vt || vt.dtype !== 'f32') throw new ArgumentError(fn, `tensors.${prefix}values`, vt, 'must be an f32 tensor');
  const values = vt.contiguous().data as Float32Array;
  const width = (key: string): 1 | 2 | 4 => {
    const w = s.meta[`${prefix}${key}`];
    if (w !== 1 && w !== 2 && w !== 4) throw new ArgumentError(fn, `meta.${prefix}${key}`, w, 'must be 1, 2 or 4');
    return w;
  };
  if (format === 'csr') {
    const colIdx = fromBytes(bytesOf('colIdx'), width('colWidth'), values.length, fn, `${prefix}colIdx`);
    const rowPtr = fromBytes(bytesOf('rowPtr'), width('ptrWidth'), rows + 1, fn, `${prefix}rowPtr`);
    return new CsrMatrix(rows, cols, rowPtr, colIdx, values);
  }
  if (format === '2:4') {
    const rw = s.meta[`${prefix}rowWidth`];
    let rowList: UIntArray | null = null;
    if (rw !== 0) {
      const w = width('rowWidth');
      rowList = fromBytes(bytesOf('rowList'), w, bytesOf('rowList').length / w, fn, `${prefix}rowList`);
    }
    return new Sparse24Matrix(rows, cols, rowList, values, bytesOf('pos'));
  }
  throw new ArgumentError(fn, `meta.${prefix}format`, format, "must be 'csr' or '2:4'");
}
