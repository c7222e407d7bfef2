// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-split-outer-reductions))" | FileCheck %s

// BatchNorm's per-channel sum over (N, H, W): first a partial sum per
// (channel, image), N x C threads on the GPU, then the partials summed into
// the original accumulator.
#in = affine_map<(n, c, h, w) -> (n, c, h, w)>
#out = affine_map<(n, c, h, w) -> (c)>
func.func @channel_sum(%x: tensor<?x5x6x6xf32>, %acc: tensor<5xf32>) -> tensor<5xf32> {
  %r = linalg.generic {indexing_maps = [#in, #out], iterator_types = ["reduction", "parallel", "reduction", "reduction"]}
      ins(%x : tensor<?x5x6x6xf32>) outs(%acc : tensor<5xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<5xf32>
  return %r : tensor<5xf32>
}
// CHECK-DAG: #[[IN:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[PARTIAL:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d0)>
// CHECK-DAG: #[[ALL:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[KEEP:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @channel_sum
// CHECK:         %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%[[N]]) : tensor<5x?xf32>
// CHECK:         %[[ZERO:.*]] = linalg.fill ins(%cst : f32) outs(%[[EMPTY]] : tensor<5x?xf32>)
// CHECK:         %[[PARTS:.*]] = linalg.generic {indexing_maps = [#[[IN]], #[[PARTIAL]]], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%arg0 : tensor<?x5x6x6xf32>) outs(%[[ZERO]] : tensor<5x?xf32>)
// CHECK:           arith.addf
// CHECK:         %[[SUM:.*]] = linalg.generic {indexing_maps = [#[[ALL]], #[[KEEP]]], iterator_types = ["parallel", "reduction"]} ins(%[[PARTS]] : tensor<5x?xf32>) outs(%arg1 : tensor<5xf32>)
// CHECK:           arith.addf
// CHECK:         return %[[SUM]]

// A max keeps its combiner, and -inf starts the partials.
func.func @channel_max(%x: tensor<4x5x6xf32>, %acc: tensor<5xf32>) -> tensor<5xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(n, c, h) -> (n, c, h)>, affine_map<(n, c, h) -> (c)>], iterator_types = ["reduction", "parallel", "reduction"]}
      ins(%x : tensor<4x5x6xf32>) outs(%acc : tensor<5xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.maximumf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<5xf32>
  return %r : tensor<5xf32>
}
// CHECK-LABEL: func.func @channel_max
// CHECK:         arith.constant 0xFF800000 : f32
// CHECK:         linalg.generic
// CHECK:           arith.maximumf
// CHECK:         linalg.generic
// CHECK:           arith.maximumf

// One reduction loop: nothing to split.
func.func @row_sum(%x: tensor<4x8xf32>, %acc: tensor<4xf32>) -> tensor<4xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x8xf32>) outs(%acc : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}
// CHECK-LABEL: func.func @row_sum
// CHECK-COUNT-1: linalg.generic
// CHECK-NOT:     linalg.generic
