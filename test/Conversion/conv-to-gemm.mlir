// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-conv-to-gemm))" | FileCheck %s

// A strided 3x3 convolution with 64 output pixels or more becomes its patches, [N, CI, KH, KW, OH, OW]
// read as [N, CI*KH*KW, OH*OW] (a row of output pixels per reduction
// step), times the weight rows [CO, CI*KH*KW], into the bias-initialized
// [N, CO, OH*OW].
func.func @conv(%x: tensor<?x8x17x17xf32>, %w: tensor<32x8x3x3xf32>, %init: tensor<?x32x8x8xf32>) -> tensor<?x32x8x8xf32> {
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %w : tensor<?x8x17x17xf32>, tensor<32x8x3x3xf32>) outs(%init : tensor<?x32x8x8xf32>) -> tensor<?x32x8x8xf32>
  return %y : tensor<?x32x8x8xf32>
}
// CHECK-DAG: #[[IMAGE:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4 * 2 + d2, d5 * 2 + d3)>
// CHECK-DAG: #[[W:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d3)>
// CHECK-DAG: #[[P:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
// CHECK-DAG: #[[Y:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @conv
// CHECK:         %[[N:.*]] = tensor.dim %arg2, %c0
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%[[N]]) : tensor<?x8x3x3x8x8xf32>
// CHECK:         %[[COL:.*]] = linalg.generic {indexing_maps = [#[[IMAGE]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%arg0 : tensor<?x8x17x17xf32>) outs(%[[EMPTY]] : tensor<?x8x3x3x8x8xf32>) attrs = {mdl.tile_sizes = array<i64: 1, 1, 0, 0, 0, 0>}
// CHECK:         %[[PATCHES:.*]] = tensor.collapse_shape %[[COL]] {{\[}}[0], [1, 2, 3], [4, 5]] : tensor<?x8x3x3x8x8xf32> into tensor<?x72x64xf32>
// CHECK:         %[[ROWS:.*]] = tensor.collapse_shape %arg1 {{\[}}[0], [1, 2, 3]] : tensor<32x8x3x3xf32> into tensor<32x72xf32>
// CHECK:         %[[ACC:.*]] = tensor.collapse_shape %arg2 {{\[}}[0], [1], [2, 3]] : tensor<?x32x8x8xf32> into tensor<?x32x64xf32>
// CHECK:         %[[GEMM:.*]] = linalg.generic {indexing_maps = [#[[W]], #[[P]], #[[Y]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[ROWS]], %[[PATCHES]] : tensor<32x72xf32>, tensor<?x72x64xf32>) outs(%[[ACC]] : tensor<?x32x64xf32>) attrs = {mdl.tile_sizes = array<i64: 1, 16, 0, 0>}
// CHECK:           arith.mulf
// CHECK:           arith.addf
// CHECK:         %[[OUT:.*]] = tensor.expand_shape %[[GEMM]] {{\[}}[0], [1], [2, 3]] output_shape [%{{.*}}, 32, 8, 8]
// CHECK:         return %[[OUT]]

// Fewer than 64 output pixels (the 7x7 layers): a row of patches per pixel,
// [N, OH*OW, CI*KH*KW], contiguous along the reduction, for the dot kernel.
func.func @small(%x: tensor<?x8x9x9xf32>, %w: tensor<32x8x3x3xf32>, %init: tensor<?x32x4x4xf32>) -> tensor<?x32x4x4xf32> {
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %w : tensor<?x8x9x9xf32>, tensor<32x8x3x3xf32>) outs(%init : tensor<?x32x4x4xf32>) -> tensor<?x32x4x4xf32>
  return %y : tensor<?x32x4x4xf32>
}
// CHECK-LABEL: func.func @small
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%{{.*}}) : tensor<?x4x4x8x3x3xf32>
// CHECK:         %[[COL:.*]] = linalg.generic {indexing_maps = [#[[SMALLIMAGE:.*]], #{{.*}}], {{.*}} outs(%[[EMPTY]] : tensor<?x4x4x8x3x3xf32>)
// CHECK:         %[[PATCHES:.*]] = tensor.collapse_shape %[[COL]] {{\[}}[0], [1, 2], [3, 4, 5]] : tensor<?x4x4x8x3x3xf32> into tensor<?x16x72xf32>
// CHECK:         linalg.generic {{.*}} ins(%{{.*}}, %[[PATCHES]] : tensor<32x72xf32>, tensor<?x16x72xf32>)
