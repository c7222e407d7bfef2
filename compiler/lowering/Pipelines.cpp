//===- Pipelines.cpp - modelc's pass pipelines, in C++ --------------------===//

#include "lowering/Pipelines.h"
#include "lowering/cpu/Passes.h"
#include "lowering/gpu/Passes.h"
#include "lowering/shared/Passes.h"

#include "mdl/IR/MdlDialect.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/Timing.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace modelc::lowering {

void registerCodegenDialects(DialectRegistry &registry) {
  registry.insert<mdl::MdlDialect>();
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  registerAllReduceBufferization(registry);
}

namespace {

/// One-shot bufferization as both back ends use it: across function
/// boundaries (the forward functions take the runtime's memrefs), with
/// identity layouts there, which is what the runtime's descriptors are.
///
/// Before it, every `tensor.dim` of an op's result is rewritten as the size
/// it was built from, and equal sizes are merged, so that a run-time size
/// (the batch) is one value per function, read from an argument. Why: the
/// analysis asks whether an insertion writes the slice that was extracted
/// (ValueBoundsConstraintSet::areEquivalentSlices), and each question it
/// cannot answer at once walks every size back through the producers'
/// destinations to the function's start, building a Presburger set as it
/// goes. On a training step's backward function that cost grew with the
/// square of its length (CIFAR ResNet-18: 36 s of one-shot bufferization,
/// 0.6 s with the sizes resolved), and the sizes it could not prove equal
/// cost copies.
void addBufferize(OpPassManager &pm) {
  memref::ResolveRankedShapeTypeResultDimsPassOptions resolve;
  // A rewrite left undone leaves a dim the analysis walks; never an error.
  resolve.errorOnPatternIterationLimit = false;
  OpPassManager &fn = pm.nest<func::FuncOp>();
  fn.addPass(memref::createResolveRankedShapeTypeResultDimsPass(resolve));
  fn.addPass(createCSEPass());
  bufferization::OneShotBufferizePassOptions options;
  options.bufferizeFunctionBoundaries = true;
  options.functionBoundaryTypeConversion = bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(options));
  // Its constants' globals come in the order it visited the functions,
  // which changes from run to run: named and ordered by contents instead,
  // so that a compile's output is the same bytes every time.
  pm.addPass(createCanonicalGlobalOrder());
}

void addCleanup(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

/// finalize-memref-to-llvm as the CPU uses it: buffers come from the
/// runtime's heap (runtime/src/Alloc.h) through the generic allocation
/// functions.
std::unique_ptr<Pass> createMemRefToLLVMPass() {
  FinalizeMemRefToLLVMConversionPassOptions options;
  options.useGenericFunctions = true;
  return createFinalizeMemRefToLLVMConversionPass(options);
}

} // namespace

void buildMdlToFusedLinalgPipeline(OpPassManager &pm) {
  // The loss's joint forward-backward functions, lowered as any forward.
  pm.addPass(createDifferentiateLoss());
  pm.addPass(createLowerModelState());
  pm.addNestedPass<func::FuncOp>(createConvertMdlToLinalg());
  addCleanup(pm);
  pm.addNestedPass<func::FuncOp>(createFuseElementwise());
  addCleanup(pm);
}

void buildCpuTilingPipeline(OpPassManager &pm) {
  // Convolutions on small images without the taps that read only padding,
  // then module passes: they add functions (a convolution's Winograd form,
  // the packing of a weight) and the values derived once per state.
  pm.addPass(createTrimConvTaps());
  pm.addPass(createWinogradConv());
  pm.addPass(createPackWeights());
  pm.addNestedPass<func::FuncOp>(createConvToGemm());
  pm.addNestedPass<func::FuncOp>(createSplitBatchedMatmul());
  pm.addNestedPass<func::FuncOp>(createTileAndFuse());
  // Attention as flash attention: its own loops, after tiling, so that its
  // blocks are not tiled again.
  pm.addNestedPass<func::FuncOp>(createAttentionToLinalg({/*blockRows=*/64}));
  addCleanup(pm);
  pm.addNestedPass<func::FuncOp>(createVectorizableLoopOrder());
}

void buildCpuToLLVMPipeline(OpPassManager &pm) {
  // Deep models: bounded function lengths before the passes whose cost
  // grows with the square of a function's length.
  pm.addPass(createOutlineLongBodies());
  // A padded activation written in place: its producer's destination
  // becomes the padded buffer's interior.
  pm.addNestedPass<func::FuncOp>(createPadsInPlace());
  addBufferize(pm);
  pm.addPass(createCanonicalizerPass());
  // Tile buffers: allocated once outside the tile loops, on the stack when
  // small. Not hoisted to the function's start (-buffer-hoisting): each
  // buffer is allocated where it is first written, so that buffers whose
  // lives do not overlap (attention's blocks of queries) do not coexist.
  OpPassManager &fn = pm.nest<func::FuncOp>();
  fn.addPass(bufferization::createBufferLoopHoistingPass());
  bufferization::PromoteBuffersToStackPassOptions stack;
  stack.maxAllocSizeInBytes = 65536;
  fn.addPass(bufferization::createPromoteBuffersToStackPass(stack));
  bufferization::BufferDeallocationPipelineOptions dealloc;
  dealloc.privateFunctionDynamicOwnership = true;
  bufferization::buildBufferDeallocationPipeline(pm, dealloc);
  pm.addPass(createConvertBufferizationToMemRefPass());
  pm.addNestedPass<func::FuncOp>(createExpandStridedCopies());
  pm.addNestedPass<func::FuncOp>(createForallToParallelLoopPass());
  pm.addPass(createBlockedDotKernels());
  pm.addPass(createDepthwiseConvKernels());
  buildCpuLoopsToLLVMPipeline(pm);
}

void buildCpuLoopsToLLVMPipeline(OpPassManager &pm) {
  // Passes that work function by function are nested in func.func, so that
  // MLIR runs them on the forward functions in parallel.
  pm.addNestedPass<func::FuncOp>(createApproximateMath());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  // Tile loops run on the runtime's threads through the OpenMP ABI. The
  // per-thread tile buffers live in memref.alloca_scopes, which the memref
  // lowering must inline before the loops inside become blocks.
  pm.addPass(createConvertSCFToOpenMPPass());
  OpPassManager &fn = pm.nest<func::FuncOp>();
  fn.addPass(createParallelIfManyIterations());
  fn.addPass(memref::createExpandStridedMetadataPass());
  fn.addPass(createLowerAffinePass());
  fn.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createMemRefToLLVMPass());
  pm.addNestedPass<func::FuncOp>(createSCFToControlFlowPass());
  pm.addPass(createConvertMathToFuncs());
  pm.addNestedPass<func::FuncOp>(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  OpPassManager &fn2 = pm.nest<func::FuncOp>();
  fn2.addPass(createArithToLLVMConversionPass());
  fn2.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createFlattenConstantGlobals());
}

void buildGpuMappingPipeline(OpPassManager &pm) {
  OpPassManager &fn = pm.nest<func::FuncOp>();
  // Attention whole: kernels of batched generics, the scores materialized.
  fn.addPass(createAttentionToLinalg());
  fn.addPass(createSplitOuterReductions());
  fn.addPass(createParallelLoopsOutermost());
  addBufferize(pm);
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(bufferization::createBufferHoistingPass());
  bufferization::buildBufferDeallocationPipeline(pm, bufferization::BufferDeallocationPipelineOptions());
  pm.addPass(createConvertBufferizationToMemRefPass());
  // On the GPU the host cannot memcpy device memory: every copy becomes
  // loops, and kernels.
  ExpandStridedCopiesOptions copies;
  copies.allCopies = true;
  pm.addNestedPass<func::FuncOp>(createExpandStridedCopies(copies));
  pm.addPass(createConvertLinalgToParallelLoopsPass());
  addCleanup(pm);
  pm.addNestedPass<func::FuncOp>(createChunkSerialSums());
  pm.addNestedPass<func::FuncOp>(createMapToGpu());
  addCleanup(pm);
}

void buildGpuEmulationPipeline(OpPassManager &pm) {
  // The kernels run as host loops through the CPU back end.
  pm.addNestedPass<func::FuncOp>(createGpuLaunchToLoops());
  buildCpuLoopsToLLVMPipeline(pm);
}

void buildGpuToNVVMPipeline(OpPassManager &pm, const GpuToNVVMOptions &options) {
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createMergeGpuModules());
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertNVVMToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  // PTX ISA 8.0 (CUDA 12.0) covers sm_90; ptxas of CUDA 13 reads it.
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = "+ptx80";
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));
  pm.addPass(createLowerAffinePass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  addCleanup(pm);
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createStripDebugInfoPass());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  kernels.addPass(LLVM::createNVVMOptimizeForTargetPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createFlattenConstantGlobals());
  // PTX only: embedFatbinaries (gpu/Cuda.h) compiles it with ptxas.
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  binary.toolkitPath = options.toolkit;
  pm.addPass(createGpuModuleToBinaryPass(binary));
  pm.addPass(createConvertMathToLLVMPass());
  addCleanup(pm);
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void registerLoweringPipelines() {
  static bool done = [] {
    registerAllPasses();
    registerSharedPasses();
    registerCpuPasses();
    registerGpuPasses();
    PassPipelineRegistration<>("mdl-to-fused-linalg",
                               "mdl -> linalg on tensors, elementwise chains fused",
                               buildMdlToFusedLinalgPipeline);
    PassPipelineRegistration<>("mdl-cpu-tiling",
                               "CPU: convolution forms, packed weights, tiles, loop order",
                               buildCpuTilingPipeline);
    PassPipelineRegistration<>("mdl-cpu-to-llvm",
                               "CPU: bufferization, blocked kernels, threads, LLVM dialect",
                               buildCpuToLLVMPipeline);
    PassPipelineRegistration<>("mdl-cpu-loops-to-llvm",
                               "CPU: loops on buffers to the LLVM dialect",
                               buildCpuLoopsToLLVMPipeline);
    PassPipelineRegistration<>("mdl-gpu-mapping", "CUDA: bufferized kernels on device memory",
                               buildGpuMappingPipeline);
    PassPipelineRegistration<>("mdl-gpu-emulation", "CUDA: kernels as host loops (tests)",
                               buildGpuEmulationPipeline);
    PassPipelineRegistration<GpuToNVVMOptions>(
        "mdl-gpu-to-nvvm", "CUDA: kernels outlined, NVVM, PTX in gpu.binary",
        buildGpuToNVVMPipeline);
    return true;
  }();
  (void)done;
}

LogicalResult runPipeline(ModuleOp module, const std::function<void(OpPassManager &)> &build) {
  registerLoweringPipelines();
  PassManager pm(module->getName());
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  applyDefaultTimingPassManagerCLOptions(pm);
  build(pm);
  return pm.run(module);
}

} // namespace modelc::lowering
