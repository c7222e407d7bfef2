// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-parallel-loops-outermost))" | FileCheck %s

// BatchNorm's per-channel sum reduces over N before C: on the GPU, C must
// come first (one thread per channel, the reduction serial inside it).
#in = affine_map<(n, c) -> (n, c)>
#out = affine_map<(n, c) -> (c)>
func.func @channel_sum(%x: tensor<?x8xf32>, %acc: tensor<8xf32>) -> tensor<8xf32> {
  %r = linalg.generic {indexing_maps = [#in, #out], iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<?x8xf32>) outs(%acc : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}
// CHECK-DAG: #[[IN:.*]] = affine_map<(d0, d1) -> (d1, d0)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @channel_sum
// CHECK: linalg.generic {indexing_maps = [#[[IN]], #[[OUT]]], iterator_types = ["parallel", "reduction"]}

// Named ops are generalized; an op already in order is left alone.
func.func @matmul(%a: tensor<4x8xf32>, %b: tensor<8x5xf32>, %c: tensor<4x5xf32>) -> tensor<4x5xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x5xf32>) outs(%c : tensor<4x5xf32>) -> tensor<4x5xf32>
  return %r : tensor<4x5xf32>
}
// CHECK-LABEL: func.func @matmul
// CHECK: linalg.matmul
