// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-vectorizable-loop-order))" -mlir-print-local-scope | FileCheck %s

// Guards -mdl-vectorizable-loop-order (VectorizableLoopOrder.cpp): the loop
// of the output's last (contiguous) dimension goes innermost but for the
// window and channel-block loops that LLVM unrolls inside it, when every
// input uses it only in its last dimension; x W^T's loops become (n, m, k).
// Named ops are generalized first.

// A convolution tile [1, F, 1, OW]: 8 output channels are split into
// blocks of 4; in each block the loops (n, f, oh, ow, c, kh, kw) become
// (n, oh, c, kh, ow, f, kw): ow contiguous, with the channel block and kw
// (which moves along the input row with it) inside it.
// CHECK-LABEL: func.func @conv_tile
// CHECK-DAG:     %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG:     %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG:     %[[C8:.*]] = arith.constant 8 : index
// CHECK:         scf.for %[[F:.*]] = %[[C0]] to %[[C8]] step %[[C4]] iter_args(%[[ACC:.*]] = %arg2)
// CHECK:           %[[WB:.*]] = tensor.extract_slice %arg1[%[[F]], 0, 0, 0] [4, 3, 3, 3] [1, 1, 1, 1]
// CHECK:           %[[YB:.*]] = tensor.extract_slice %[[ACC]][0, %[[F]], 0, 0] [1, 4, 1, 8] [1, 1, 1, 1]
// CHECK:           linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d2, d1 + d3, d4 + d6)>, affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d5, d2, d3, d6)>, affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d5, d1, d4)>], iterator_types = ["parallel", "parallel", "reduction", "reduction", "parallel", "parallel", "reduction"]}
// CHECK-SAME:        ins(%{{.*}}, %[[WB]] : tensor<1x3x3x10xf32>, tensor<4x3x3x3xf32>) outs(%[[YB]] : tensor<1x4x1x8xf32>)
// CHECK:             arith.mulf
// CHECK:             arith.addf
// CHECK:           tensor.insert_slice
func.func @conv_tile(%x: tensor<1x3x3x10xf32>, %w: tensor<8x3x3x3xf32>, %acc: tensor<1x8x1x8xf32>) -> tensor<1x8x1x8xf32> {
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x3x3x10xf32>, tensor<8x3x3x3xf32>) outs(%acc : tensor<1x8x1x8xf32>) -> tensor<1x8x1x8xf32>
  return %0 : tensor<1x8x1x8xf32>
}

// 3 output channels (not over 4): not split, the same order.
// CHECK-LABEL: func.func @conv_three_channels
// CHECK-NOT:     scf.for
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "reduction", "parallel", "parallel", "reduction"]} ins(%arg0, %arg1 : tensor<1x3x3x10xf32>, tensor<3x3x3x3xf32>)
func.func @conv_three_channels(%x: tensor<1x3x3x10xf32>, %w: tensor<3x3x3x3xf32>, %acc: tensor<1x3x1x8xf32>) -> tensor<1x3x1x8xf32> {
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x3x3x10xf32>, tensor<3x3x3x3xf32>) outs(%acc : tensor<1x3x1x8xf32>) -> tensor<1x3x1x8xf32>
  return %0 : tensor<1x3x1x8xf32>
}

// Max pooling, loops (n, c, oh, ow, kh, kw): (n, oh, kh, ow, c, kw).
// CHECK-LABEL: func.func @max_pool
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d4, d1 * 2 + d2, d3 * 2 + d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d2, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d4, d1, d3)>], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel", "reduction"]}
// CHECK:           arith.maximumf
func.func @max_pool(%x: tensor<1x4x3x10xf32>, %acc: tensor<1x4x1x4xf32>) -> tensor<1x4x1x4xf32> {
  %win = tensor.empty() : tensor<3x3xf32>
  %0 = linalg.pooling_nchw_max {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %win : tensor<1x4x3x10xf32>, tensor<3x3xf32>) outs(%acc : tensor<1x4x1x4xf32>) -> tensor<1x4x1x4xf32>
  return %0 : tensor<1x4x1x4xf32>
}

// x @ W with W [K, N]: (m, n, k) becomes (m, k, n), a multiply-add along
// a row of W and of the output.
// CHECK-LABEL: func.func @x_w
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>], iterator_types = ["parallel", "reduction", "parallel"]} ins(%arg0, %arg1 : tensor<16x64xf32>, tensor<64x32xf32>)
func.func @x_w(%a: tensor<16x64xf32>, %b: tensor<64x32xf32>, %c: tensor<16x32xf32>) -> tensor<16x32xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<16x64xf32>, tensor<64x32xf32>) outs(%c : tensor<16x32xf32>) -> tensor<16x32xf32>
  return %0 : tensor<16x32xf32>
}

// x W^T (Linear): n would stride through W's rows, so k stays innermost;
// (m, n, k) becomes (n, m, k), so that W's row n serves the whole block of
// rows from cache.
// CHECK-LABEL: func.func @x_wt
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d0)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0, %arg1 : tensor<16x64xf32>, tensor<32x64xf32>)
func.func @x_wt(%a: tensor<16x64xf32>, %b: tensor<32x64xf32>, %c: tensor<16x32xf32>) -> tensor<16x32xf32> {
  %0 = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : tensor<16x64xf32>, tensor<32x64xf32>) outs(%c : tensor<16x32xf32>) {
  ^bb0(%u: f32, %v: f32, %o: f32):
    %m = arith.mulf %u, %v : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<16x32xf32>
  return %0 : tensor<16x32xf32>
}

// Left alone: a row sum (the output's last loop indexes the input's rows),
// an op without a reduction, and a contraction already in order.
// CHECK-LABEL: func.func @unchanged
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]}
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>], iterator_types = ["parallel", "reduction", "parallel"]}
func.func @unchanged(%x: tensor<4x10xf32>, %acc: tensor<4xf32>, %t: tensor<10x4xf32>, %a: tensor<16x64xf32>, %b: tensor<64x32xf32>, %c: tensor<16x32xf32>) -> (tensor<4xf32>, tensor<4x10xf32>, tensor<16x32xf32>) {
  %0 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x10xf32>) outs(%acc : tensor<4xf32>) {
  ^bb0(%v: f32, %o: f32):
    %s = arith.addf %v, %o : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %1 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
      ins(%t : tensor<10x4xf32>) outs(%x : tensor<4x10xf32>) {
  ^bb0(%v: f32, %o: f32):
    linalg.yield %v : f32
  } -> tensor<4x10xf32>
  %2 = linalg.generic {indexing_maps = [affine_map<(m, k, n) -> (m, k)>, affine_map<(m, k, n) -> (k, n)>, affine_map<(m, k, n) -> (m, n)>], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%a, %b : tensor<16x64xf32>, tensor<64x32xf32>) outs(%c : tensor<16x32xf32>) {
  ^bb0(%u: f32, %v: f32, %o: f32):
    %m = arith.mulf %u, %v : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<16x32xf32>
  return %0, %1, %2 : tensor<4xf32>, tensor<4x10xf32>, tensor<16x32xf32>
}
