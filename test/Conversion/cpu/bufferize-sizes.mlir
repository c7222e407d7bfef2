// RUN: mdl-opt %s --mdl-cpu-to-llvm --mlir-print-ir-before=one-shot-bufferize -o /dev/null 2>&1 | FileCheck %s

// The CPU pipeline resolves sizes before one-shot bufferization: each
// tensor.dim of an op's result becomes the size it was built from, so that a
// run-time size (the batch) is one value, read from the function's argument.
// One-shot analysis compares the slices that tile loops extract and insert
// (ValueBoundsConstraintSet::areEquivalentSlices); with a size it must follow
// back through every producer's destination, each comparison walked the
// function to its start, and a training step's backward function (CIFAR
// ResNet-18) took 36 s to bufferize instead of 0.6 s.
// CHECK-LABEL: IR Dump Before OneShotBufferizePass
// CHECK:       func.func @chain(%[[X:.*]]: tensor<?x64xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x64xf32>
// CHECK-NOT:     tensor.dim
// CHECK:         scf.forall (%[[I:.*]]) = (0) to (%[[N]]) step (8)
// CHECK:           affine.min #{{.*}}(%[[I]])[%[[N]]]
// CHECK:         return
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @chain(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %c0 = arith.constant 0 : index
  %d0 = tensor.dim %x, %c0 : tensor<?x64xf32>
  %e0 = tensor.empty(%d0) : tensor<?x64xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x64xf32>) outs(%e0 : tensor<?x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  } -> tensor<?x64xf32>
  %d1 = tensor.dim %a, %c0 : tensor<?x64xf32>
  %e1 = tensor.empty(%d1) : tensor<?x64xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<?x64xf32>) outs(%e1 : tensor<?x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %in, %in : f32
    linalg.yield %0 : f32
  } -> tensor<?x64xf32>
  %d2 = tensor.dim %b, %c0 : tensor<?x64xf32>
  %r = scf.forall (%i) = (0) to (%d2) step (8) shared_outs(%o = %b) -> (tensor<?x64xf32>) {
    %n = affine.min affine_map<(d0)[s0] -> (-d0 + s0, 8)>(%i)[%d2]
    %s = tensor.extract_slice %o[%i, 0] [%n, 64] [1, 1] : tensor<?x64xf32> to tensor<?x64xf32>
    %t = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]}
        outs(%s : tensor<?x64xf32>) {
    ^bb0(%out: f32):
      %0 = arith.addf %out, %out : f32
      linalg.yield %0 : f32
    } -> tensor<?x64xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %t into %o[%i, 0] [%n, 64] [1, 1] : tensor<?x64xf32> into tensor<?x64xf32>
    }
  }
  return %r : tensor<?x64xf32>
}
