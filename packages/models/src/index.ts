// The public API of @llmpress/models, by name (issue 21): a helper exported from a module is not public until it
// is listed here. Internal helpers stay module-private to the package.
export { bosOf, type LlamaConfig } from './config.js';
export { FormatError, AbortedError } from './errors.js';
export { LINEAR_ROLES, rmsnorm, denseBlock, type LinearRole, type NormSite, type LlamaBlock, type LinearEntry,
  placeOnBackend, Fp32KVCache, attendGemm, type KVCacheLike, type ForwardHooks, type ForwardOptions, type LlamaParts,
  LlamaModel } from './model.js';
export { readLlama2cConfig, parseLlama2c, writeLlama2c } from './llama2c.js';
export { parseLlama2cTokenizer, type EncodeOptions, type Tokenizer, BpeTokenizer } from './tokenizer.js';
export { argmax, sampleLogits, generate, type GenerateOptions } from './generate.js';
export { standardWindows, contiguousWindows, evalSplit, assertDisjoint, referenceLogits, evaluate,
  relativeLayerErrors, klTokenStats, summarizeKl, klStatistics, formatKlStats, type Window,
  type StandardWindowOptions, type EvalSplit, type EvalResult, type EvaluateOptions, type KlStats } from './eval.js';
export { accumulateGram, streamLinearStats, captureLinearStats, scheduledCalibration, sequentialCalibration,
  type LinearStats, type CaptureOptions, type CalibrationWindows, type SequentialStats, type CalibrationSchedule,
  CALIBRATION_SCHEDULES, LINEAR_GROUPS, type ScheduledCalibrationOptions, type SequentialOptions } from './calibration.js';
export { compressLinears, type LayerJob, type LayerOutcome, type LayerCompressor, type DriverProgress,
  type DriverOptions, type CompressResult } from './compress/driver.js';
export { bytesSource, parseSafetensorsHeaderJson, decodeSafetensorsData, parseSafetensors, writeSafetensors,
  type ByteSource, type SafetensorsDType, SAFETENSORS_DTYPE_SIZE, type SafetensorsEntry, type SafetensorsHeader,
  type SafetensorsLimits, SafetensorsFile, type RawTensor } from './safetensors.js';
export { hfConfigToLlama, modelFromHfTensors, parseHfModel } from './hf.js';
export { parseGgufHeader, dequantize, parseGguf, ggufToLlamaConfig, ggufToLlamaModel, ggufTokenizer,
  GGUF_VALUE_TYPES, type GgufValueType, type GgufValue, type GgufKV, GGML_TYPES, type GgufTensorInfo,
  type GgufHeader, type GgufLimits, GgufFile } from './gguf.js';
export { saveModel, saveModelBytes, loadCompressedModel, MODEL_FORMAT, type SavedModel, type LayerDeserializer,
  type LoadCompressedOptions } from './save.js';
export { parseHfTokenizer, HfTokenizer } from './hf-tokenizer.js';
export { randomModel } from './testing/random-model.js';
export { LossyExportError, MissingTokenizerError, OutputRefusedError, quantizeQ8_0, quantizeQ4_0, quantizeQ4_1,
  isQuantizedLike, layerCodes, exactMappingProblem, codesToGgml, GGML, type GgmlTypeName, QK, type QuantizedLike,
  streamGguf, type GgufTensorDecl, type GgufLayout, type ByteSink, GgufWriter, tokenizerToGguf, type TokenizerSource,
  TOKEN_TYPE, ropeInterleaveRows, planGgufExport, exportGgufBytes, type GgufExportType, type DenseExportType,
  GGUF_EXPORT_TYPES, type GgufExportOptions, type ExportedTensor, type ExportReport, fromGptq, type GptqTensors,
  hfConfigJson, exportHfFiles, readHfExport, parseHfExport, type HfExportOptions, bpeToHfTokenizerJson } from './export/index.js';
