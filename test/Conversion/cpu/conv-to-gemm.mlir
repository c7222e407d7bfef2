// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-conv-to-gemm))" | FileCheck %s

// A convolution becomes a loop over the images; each image's convolution
// is its patches times the weight rows [CO, CI*KH*KW], into its slice of
// the bias-initialized output. With 64 output pixels or more the patches
// are [1, CI*KH*KW, OH*OW] (a row of output pixels per reduction step).
func.func @conv(%x: tensor<?x8x17x17xf32>, %w: tensor<32x8x3x3xf32>, %init: tensor<?x32x8x8xf32>) -> tensor<?x32x8x8xf32> {
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %w : tensor<?x8x17x17xf32>, tensor<32x8x3x3xf32>) outs(%init : tensor<?x32x8x8xf32>) -> tensor<?x32x8x8xf32>
  return %y : tensor<?x32x8x8xf32>
}
// CHECK-DAG: #[[IMAGE:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4 * 2 + d2, d5 * 2 + d3)>
// CHECK-DAG: #[[W:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d3)>
// CHECK-DAG: #[[P:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
// CHECK-DAG: #[[Y:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[WROW:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[PROD:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[T:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3, d1)>
// CHECK-LABEL: func.func @conv
// CHECK:         %[[N:.*]] = tensor.dim %arg2, %c0
// CHECK:         %[[OUT:.*]] = scf.for %[[I:.*]] = %c0 to %[[N]] step %c1 iter_args(%[[ACC:.*]] = %arg2)
// CHECK:           %[[X:.*]] = tensor.extract_slice %arg0[%[[I]], 0, 0, 0] [1, 8, 17, 17]
// CHECK:           %[[YI:.*]] = tensor.extract_slice %[[ACC]][%[[I]], 0, 0, 0] [1, 32, 8, 8]
// CHECK:           %[[EMPTY:.*]] = tensor.empty() : tensor<1x8x3x3x8x8xf32>
// CHECK:           %[[COL:.*]] = linalg.generic {indexing_maps = [#[[IMAGE]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%[[X]] : tensor<1x8x17x17xf32>) outs(%[[EMPTY]] : tensor<1x8x3x3x8x8xf32>) attrs = {mdl.tile_sizes = array<i64: 1, 1, 0, 0, 0, 0>}
// CHECK:           %[[PATCHES:.*]] = tensor.collapse_shape %[[COL]] {{\[}}[0], [1, 2, 3], [4, 5]] : tensor<1x8x3x3x8x8xf32> into tensor<1x72x64xf32>
// CHECK:           %[[ROWS:.*]] = tensor.collapse_shape %arg1 {{\[}}[0], [1, 2, 3]] : tensor<32x8x3x3xf32> into tensor<32x72xf32>
// CHECK:           %[[ACC1:.*]] = tensor.collapse_shape %[[YI]] {{\[}}[0], [1], [2, 3]] : tensor<1x32x8x8xf32> into tensor<1x32x64xf32>
// CHECK:           %[[GEMM:.*]] = linalg.generic {indexing_maps = [#[[W]], #[[P]], #[[Y]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[ROWS]], %[[PATCHES]] : tensor<32x72xf32>, tensor<1x72x64xf32>) outs(%[[ACC1]] : tensor<1x32x64xf32>) attrs = {mdl.tile_sizes = array<i64: 1, 16, 0, 0>}
// CHECK:             arith.mulf
// CHECK:             arith.addf
// CHECK:           %[[RES:.*]] = tensor.expand_shape %[[GEMM]] {{\[}}[0], [1], [2, 3]] output_shape [1, 32, 8, 8]
// CHECK:           %[[NEXT:.*]] = tensor.insert_slice %[[RES]] into %[[ACC]][%[[I]], 0, 0, 0] [1, 32, 8, 8]
// CHECK:           scf.yield %[[NEXT]]
// CHECK:         return %[[OUT]]

// Fewer than 64 output pixels (the 7x7 layers): a row of patches per pixel,
// [1, OH*OW, CI*KH*KW], contiguous along the reduction, for the dot kernel.
func.func @small(%x: tensor<?x8x11x11xf32>, %w: tensor<32x8x3x3xf32>, %init: tensor<?x32x5x5xf32>) -> tensor<?x32x5x5xf32> {
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %w : tensor<?x8x11x11xf32>, tensor<32x8x3x3xf32>) outs(%init : tensor<?x32x5x5xf32>) -> tensor<?x32x5x5xf32>
  return %y : tensor<?x32x5x5xf32>
}
// CHECK-LABEL: func.func @small
// CHECK:         scf.for
// CHECK:           %[[EMPTY:.*]] = tensor.empty() : tensor<1x5x5x8x3x3xf32>
// CHECK:           %[[COL:.*]] = linalg.generic {{.*}} outs(%[[EMPTY]] : tensor<1x5x5x8x3x3xf32>)
// CHECK:           %[[PATCHES:.*]] = tensor.collapse_shape %[[COL]] {{\[}}[0], [1, 2], [3, 4, 5]] : tensor<1x5x5x8x3x3xf32> into tensor<1x25x72xf32>
// CHECK:           linalg.generic {{.*}} ins(%{{.*}}, %[[PATCHES]] : tensor<32x72xf32>, tensor<1x25x72xf32>)

// 16 output pixels or fewer (CIFAR's last layers): the whole batch at
// once, a row of patches per pixel of every image ([N*OH*OW, K]) times the
// weight rows into [N*OH*OW, CO], which is added to the output transposed;
// no loop over the images, so the weights are read once.
func.func @tiny_images(%x: tensor<?x8x9x9xf32>, %w: tensor<32x8x3x3xf32>, %init: tensor<?x32x4x4xf32>) -> tensor<?x32x4x4xf32> {
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %w : tensor<?x8x9x9xf32>, tensor<32x8x3x3xf32>) outs(%init : tensor<?x32x4x4xf32>) -> tensor<?x32x4x4xf32>
  return %y : tensor<?x32x4x4xf32>
}
// CHECK-LABEL: func.func @tiny_images
// CHECK-NOT:     scf.for
// CHECK:         %[[N:.*]] = tensor.dim %arg2, %c0
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%[[N]]) : tensor<?x4x4x8x3x3xf32>
// CHECK:         %[[COL:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<?x8x9x9xf32>) outs(%[[EMPTY]] : tensor<?x4x4x8x3x3xf32>) attrs = {mdl.tile_sizes = array<i64: 1, 1, 0, 0, 0, 0>}
// CHECK:         %[[PATCHES:.*]] = tensor.collapse_shape %[[COL]] {{\[}}[0, 1, 2], [3, 4, 5]] : tensor<?x4x4x8x3x3xf32> into tensor<?x72xf32>
// CHECK:         %[[ROWS:.*]] = tensor.collapse_shape %arg1 {{\[}}[0], [1, 2, 3]] : tensor<32x8x3x3xf32> into tensor<32x72xf32>
// CHECK:         %[[ZERO:.*]] = linalg.fill
// CHECK:         %[[GEMM:.*]] = linalg.generic {indexing_maps = [#[[ROW]], #[[WROW]], #[[PROD]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[PATCHES]], %[[ROWS]] : tensor<?x72xf32>, tensor<32x72xf32>) outs(%[[ZERO]] : tensor<?x32xf32>) attrs = {mdl.tile_sizes = array<i64: 64, 16, 0>}
// CHECK:         %[[P4:.*]] = tensor.expand_shape %[[GEMM]] {{\[}}[0, 1, 2], [3]] output_shape [%[[N]], 4, 4, 32]
// CHECK:         %[[OUT:.*]] = linalg.generic {indexing_maps = [#[[T]], #{{.*}}], {{.*}} ins(%[[P4]] : tensor<?x4x4x32xf32>) outs(%arg2 : tensor<?x32x4x4xf32>)
// CHECK:           arith.addf %{{.*}}, %{{.*}} : f32
// CHECK:         return %[[OUT]]
