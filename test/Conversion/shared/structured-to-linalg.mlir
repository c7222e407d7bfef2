// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(convert-mdl-to-linalg))" -mlir-print-local-scope | FileCheck %s

// Guards convert-mdl-to-linalg's structured family (StructuredToLinalg.cpp):
// contractions start from their bias (or zeros) and sum in any order
// (`fastmath<reassoc, contract>`, for the blocked kernels); convolutions and
// pooling read an explicitly padded input; embedding gathers clamped rows.

// Linear: x W^T with loops (m, n, k), both operands contiguous along k;
// the accumulator is the bias broadcast along the rows.
// CHECK-LABEL: func.func @linear
// CHECK-SAME:    (%[[X:.*]]: tensor<?x8xf32>, %[[W:.*]]: tensor<4x8xf32>, %[[B:.*]]: tensor<4xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %c0
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%[[N]]) : tensor<?x4xf32>
// CHECK:         %[[ACC:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[B]] : tensor<4xf32>) outs(%[[EMPTY]] : tensor<?x4xf32>)
// CHECK-NEXT:    ^bb0(%[[V:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      linalg.yield %[[V]] : f32
// CHECK:         %[[Y:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[X]], %[[W]] : tensor<?x8xf32>, tensor<4x8xf32>) outs(%[[ACC]] : tensor<?x4xf32>)
// CHECK-NEXT:    ^bb0(%[[A:.*]]: f32, %[[C:.*]]: f32, %[[OUT:.*]]: f32):
// CHECK-NEXT:      %[[P:.*]] = arith.mulf %[[A]], %[[C]] fastmath<reassoc,contract> : f32
// CHECK-NEXT:      %[[S:.*]] = arith.addf %[[OUT]], %[[P]] fastmath<reassoc,contract> : f32
// CHECK-NEXT:      linalg.yield %[[S]] : f32
// CHECK:         return %[[Y]]
func.func @linear(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>) -> tensor<?x4xf32> {
  %0 = mdl.linear %x, %w, %b : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// Leading dimensions are collapsed into the rows of one matrix and
// expanded back; without a bias the accumulator is zeros.
// CHECK-LABEL: func.func @linear_batched
// CHECK:         %[[ROWS:.*]] = tensor.collapse_shape %arg0 {{\[}}[0, 1], [2]] : tensor<2x?x8xf32> into tensor<?x8xf32>
// CHECK:         %[[ZEROS:.*]] = linalg.fill ins(%cst : f32) outs(%{{.*}} : tensor<?x4xf32>)
// CHECK:         %[[Y:.*]] = linalg.generic {{.*}} ins(%[[ROWS]], %arg1 : tensor<?x8xf32>, tensor<4x8xf32>) outs(%[[ZEROS]] : tensor<?x4xf32>)
// CHECK:         %[[T:.*]] = tensor.dim %arg0, %c1
// CHECK:         %[[R:.*]] = tensor.expand_shape %[[Y]] {{\[}}[0, 1], [2]] output_shape [2, %[[T]], 4] : tensor<?x4xf32> into tensor<2x?x4xf32>
// CHECK:         return %[[R]]
func.func @linear_batched(%x: tensor<2x?x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x?x4xf32> {
  %0 = mdl.linear %x, %w : (tensor<2x?x8xf32>, tensor<4x8xf32>) -> tensor<2x?x4xf32>
  return %0 : tensor<2x?x4xf32>
}

// torch.matmul: a 2-D right operand is shared by every batch (no batch
// loop in its map); loops (b, m, n, k).
// CHECK-LABEL: func.func @matmul_batched
// CHECK:         %[[ZEROS:.*]] = linalg.fill ins(%cst : f32) outs(%{{.*}} : tensor<3x?x4xf32>)
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d3, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%arg0, %arg1 : tensor<3x?x16xf32>, tensor<16x4xf32>) outs(%[[ZEROS]] : tensor<3x?x4xf32>)
// CHECK:           arith.mulf
// CHECK:           arith.addf
func.func @matmul_batched(%a: tensor<3x?x16xf32>, %b: tensor<16x4xf32>) -> tensor<3x?x4xf32> {
  %0 = mdl.matmul %a, %b : (tensor<3x?x16xf32>, tensor<16x4xf32>) -> tensor<3x?x4xf32>
  return %0 : tensor<3x?x4xf32>
}

// A 1-D right operand is promoted to a column [k, 1], and the promoted
// dimension dropped from the result.
// CHECK-LABEL: func.func @matvec
// CHECK:         %[[COL:.*]] = tensor.expand_shape %arg1 {{\[}}[0, 1]] output_shape [16, 1] : tensor<16xf32> into tensor<16x1xf32>
// CHECK:         %[[Y:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%arg0, %[[COL]] : tensor<3x16xf32>, tensor<16x1xf32>) outs(%{{.*}} : tensor<3x1xf32>)
// CHECK:         %[[R:.*]] = tensor.collapse_shape %[[Y]] {{\[}}[0, 1]] : tensor<3x1xf32> into tensor<3xf32>
// CHECK:         return %[[R]]
func.func @matvec(%m: tensor<3x16xf32>, %v: tensor<16xf32>) -> tensor<3xf32> {
  %0 = mdl.matmul %m, %v : (tensor<3x16xf32>, tensor<16xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// conv2d (groups 1): the input padded with zeros, the bias broadcast over
// the channels as the accumulator, linalg's named convolution with the
// op's stride and dilation.
// CHECK-LABEL: func.func @conv
// CHECK-SAME:    (%[[X:.*]]: tensor<?x3x8x8xf32>, %[[W:.*]]: tensor<4x3x3x3xf32>, %[[B:.*]]: tensor<4xf32>)
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[PADDED:.*]] = tensor.pad %[[X]] low[0, 0, 1, 1] high[0, 0, 1, 1]
// CHECK:           tensor.yield %[[ZERO]] : f32
// CHECK:         } : tensor<?x3x8x8xf32> to tensor<?x3x10x10xf32>
// CHECK:         %[[ACC:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], {{.*}} ins(%[[B]] : tensor<4xf32>)
// CHECK:         %[[Y:.*]] = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<[2, 1]> : tensor<2xi64>} ins(%[[PADDED]], %[[W]] : tensor<?x3x10x10xf32>, tensor<4x3x3x3xf32>) outs(%[[ACC]] : tensor<?x4x4x8xf32>)
// CHECK:         return %[[Y]]
func.func @conv(%x: tensor<?x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) -> tensor<?x4x4x8xf32> {
  %0 = mdl.conv2d %x, %w, %b stride [2, 1] padding [1, 1] dilation [1, 1] groups 1 : (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<?x4x4x8xf32>
  return %0 : tensor<?x4x4x8xf32>
}

// Grouped conv2d: channels split into [groups, per group] in the input
// ([N, G, C, H, W]), the weight ([G, F, C, kh, kw]) and the output
// ([N, G, F, OH, OW]); one generic over (n, g, f, oh, ow, c, kh, kw) with
// stride 2 along rows and dilation 2 along columns; then collapsed back.
// CHECK-LABEL: func.func @grouped_conv
// CHECK:         %[[PADDED:.*]] = tensor.pad %arg0 low[0, 0, 1, 2] high[0, 0, 1, 2]
// CHECK:         %[[ZEROS:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<?x6x4x8xf32>)
// CHECK:         %[[XG:.*]] = tensor.expand_shape %[[PADDED]] {{\[}}[0], [1, 2], [3], [4]] output_shape [%{{.*}}, 2, 2, 10, 12] : tensor<?x4x10x12xf32> into tensor<?x2x2x10x12xf32>
// CHECK:         %[[WG:.*]] = tensor.expand_shape %arg1 {{\[}}[0, 1], [2], [3], [4]] output_shape [2, 3, 2, 3, 3] : tensor<6x2x3x3xf32> into tensor<2x3x2x3x3xf32>
// CHECK:         %[[YG0:.*]] = tensor.expand_shape %[[ZEROS]] {{\[}}[0], [1, 2], [3], [4]] output_shape [%{{.*}}, 2, 3, 4, 8] : tensor<?x6x4x8xf32> into tensor<?x2x3x4x8xf32>
// CHECK:         %[[YG:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d5, d3 * 2 + d6, d4 + d7 * 2)>, affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d2, d5, d6, d7)>, affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
// CHECK-SAME:      ins(%[[XG]], %[[WG]] : tensor<?x2x2x10x12xf32>, tensor<2x3x2x3x3xf32>) outs(%[[YG0]] : tensor<?x2x3x4x8xf32>)
// CHECK:         %[[Y:.*]] = tensor.collapse_shape %[[YG]] {{\[}}[0], [1, 2], [3], [4]] : tensor<?x2x3x4x8xf32> into tensor<?x6x4x8xf32>
// CHECK:         return %[[Y]]
func.func @grouped_conv(%x: tensor<?x4x8x8xf32>, %w: tensor<6x2x3x3xf32>) -> tensor<?x6x4x8xf32> {
  %0 = mdl.conv2d %x, %w stride [2, 1] padding [1, 2] dilation [1, 2] groups 2 : (tensor<?x4x8x8xf32>, tensor<6x2x3x3xf32>) -> tensor<?x6x4x8xf32>
  return %0 : tensor<?x6x4x8xf32>
}

// Max pooling pads with -inf and starts from -inf, so that padding never
// wins.
// CHECK-LABEL: func.func @max_pool
// CHECK:         %[[NEG_INF:.*]] = arith.constant 0xFF800000 : f32
// CHECK:         %[[PADDED:.*]] = tensor.pad %arg0 low[0, 0, 1, 1] high[0, 0, 1, 1]
// CHECK:           tensor.yield %[[NEG_INF]] : f32
// CHECK:         %[[INIT:.*]] = linalg.fill ins(%[[NEG_INF]] : f32) outs(%{{.*}} : tensor<?x4x4x4xf32>)
// CHECK:         %[[WINDOW:.*]] = tensor.empty() : tensor<3x3xf32>
// CHECK:         %[[Y:.*]] = linalg.pooling_nchw_max {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%[[PADDED]], %[[WINDOW]] : tensor<?x4x10x10xf32>, tensor<3x3xf32>) outs(%[[INIT]] : tensor<?x4x4x4xf32>)
// CHECK:         return %[[Y]]
func.func @max_pool(%x: tensor<?x4x8x8xf32>) -> tensor<?x4x4x4xf32> {
  %0 = mdl.max_pool2d %x kernel_size [3, 3] stride [2, 2] padding [1, 1] : tensor<?x4x8x8xf32> -> tensor<?x4x4x4xf32>
  return %0 : tensor<?x4x4x4xf32>
}

// Average pooling that counts the padding divides the window's sum by the
// window's size.
// CHECK-LABEL: func.func @avg_pool_count_pad
// CHECK:         %[[NINE:.*]] = arith.constant 9.000000e+00 : f32
// CHECK:         %[[SUM:.*]] = linalg.pooling_nchw_sum {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x4x10x10xf32>, tensor<3x3xf32>)
// CHECK:         linalg.generic {{.*}} ins(%[[SUM]] : tensor<?x4x4x4xf32>)
// CHECK-NEXT:    ^bb0(%[[S:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      arith.divf %[[S]], %[[NINE]]
// CHECK-NOT:     linalg.pooling_nchw_sum
// CHECK:         return
func.func @avg_pool_count_pad(%x: tensor<?x4x8x8xf32>) -> tensor<?x4x4x4xf32> {
  %0 = mdl.avg_pool2d %x kernel_size [3, 3] stride [2, 2] padding [1, 1] count_include_pad true : tensor<?x4x8x8xf32> -> tensor<?x4x4x4xf32>
  return %0 : tensor<?x4x4x4xf32>
}

// Without count_include_pad, each window's count of real elements is the
// same pooling of a padded [1, 1, H, W] tensor of ones, broadcast over
// batch and channels.
// CHECK-LABEL: func.func @avg_pool_real_count
// CHECK-DAG:     %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG:     %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[SUM:.*]] = linalg.pooling_nchw_sum {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x4x10x10xf32>, tensor<3x3xf32>)
// CHECK:         %[[ONES:.*]] = linalg.fill ins(%[[ONE]] : f32) outs(%{{.*}} : tensor<1x1x8x8xf32>)
// CHECK:         %[[PADDED_ONES:.*]] = tensor.pad %[[ONES]] low[0, 0, 1, 1] high[0, 0, 1, 1]
// CHECK:           tensor.yield %[[ZERO]] : f32
// CHECK:         %[[COUNTS:.*]] = linalg.pooling_nchw_sum {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%[[PADDED_ONES]], %{{.*}} : tensor<1x1x10x10xf32>, tensor<3x3xf32>) outs(%{{.*}} : tensor<1x1x4x4xf32>)
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (0, 0, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], {{.*}} ins(%[[SUM]], %[[COUNTS]] : tensor<?x4x4x4xf32>, tensor<1x1x4x4xf32>)
// CHECK-NEXT:    ^bb0(%[[S:.*]]: f32, %[[C:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      arith.divf %[[S]], %[[C]]
func.func @avg_pool_real_count(%x: tensor<?x4x8x8xf32>) -> tensor<?x4x4x4xf32> {
  %0 = mdl.avg_pool2d %x kernel_size [3, 3] stride [2, 2] padding [1, 1] count_include_pad false : tensor<?x4x8x8xf32> -> tensor<?x4x4x4xf32>
  return %0 : tensor<?x4x4x4xf32>
}

// Adaptive pooling to a size that divides the input's is plain average
// pooling: kernel = stride = 8.
// CHECK-LABEL: func.func @adaptive_even
// CHECK:         %[[CELLS:.*]] = arith.constant 6.400000e+01 : f32
// CHECK:         %[[WINDOW:.*]] = tensor.empty() : tensor<8x8xf32>
// CHECK:         %[[SUM:.*]] = linalg.pooling_nchw_sum {dilations = dense<1> : tensor<2xi64>, strides = dense<8> : tensor<2xi64>} ins(%arg0, %[[WINDOW]] : tensor<?x4x8x8xf32>, tensor<8x8xf32>)
// CHECK:         linalg.generic {{.*}} ins(%[[SUM]] : tensor<?x4x1x1xf32>)
// CHECK:           arith.divf %{{.*}}, %[[CELLS]]
func.func @adaptive_even(%x: tensor<?x4x8x8xf32>) -> tensor<?x4x1x1xf32> {
  %0 = mdl.adaptive_avg_pool2d %x output_size [1, 1] : tensor<?x4x8x8xf32> -> tensor<?x4x1x1xf32>
  return %0 : tensor<?x4x1x1xf32>
}

// Otherwise (7 into 3) windows differ: a generic sums over the largest
// (7 / 3 + 2 = 4 rows and columns), masking what lies outside each cell's
// own window and clamping the read into the input; a second divides each
// cell by its own count.
// CHECK-LABEL: func.func @adaptive_uneven
// CHECK-DAG:     %[[LAST:.*]] = arith.constant 6 : index
// CHECK:         %[[WINDOW:.*]] = tensor.empty() : tensor<4x4xf32>
// CHECK:         %[[SUM:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[WINDOW]] : tensor<4x4xf32>)
// CHECK-NEXT:    ^bb0(%{{.*}}: f32, %[[OUT:.*]]: f32):
// CHECK:           %[[INSIDE:.*]] = arith.andi
// CHECK:           %[[H:.*]] = arith.minui %{{.*}}, %[[LAST]] : index
// CHECK:           %[[W:.*]] = arith.minui %{{.*}}, %[[LAST]] : index
// CHECK:           %[[V:.*]] = tensor.extract %arg0[%{{.*}}, %{{.*}}, %[[H]], %[[W]]] : tensor<?x4x7x7xf32>
// CHECK:           %[[ADD:.*]] = arith.addf %[[OUT]], %[[V]]
// CHECK:           %[[R:.*]] = arith.select %[[INSIDE]], %[[ADD]], %[[OUT]] : f32
// CHECK:           linalg.yield %[[R]]
// CHECK:         linalg.generic {{.*}} ins(%[[SUM]] : tensor<?x4x3x3xf32>)
// CHECK:           %[[COUNT:.*]] = arith.uitofp
// CHECK:           arith.divf %{{.*}}, %[[COUNT]]
func.func @adaptive_uneven(%x: tensor<?x4x7x7xf32>) -> tensor<?x4x3x3xf32> {
  %0 = mdl.adaptive_avg_pool2d %x output_size [3, 3] : tensor<?x4x7x7xf32> -> tensor<?x4x3x3xf32>
  return %0 : tensor<?x4x3x3xf32>
}

// embedding gathers table rows; an index out of range is clamped into
// [0, rows - 1] rather than read past the table.
// CHECK-LABEL: func.func @embedding
// CHECK-DAG:     %[[LAST:.*]] = arith.constant 999 : index
// CHECK-DAG:     %[[FIRST:.*]] = arith.constant 0 : index
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%arg0 : tensor<?x16xi64>) outs(%{{.*}} : tensor<?x16x64xf32>)
// CHECK-NEXT:    ^bb0(%[[ID:.*]]: i64, %{{.*}}: f32):
// CHECK-NEXT:      %[[I:.*]] = arith.index_cast %[[ID]] : i64 to index
// CHECK-NEXT:      %[[LO:.*]] = arith.maxsi %[[I]], %[[FIRST]] : index
// CHECK-NEXT:      %[[ROW:.*]] = arith.minsi %[[LO]], %[[LAST]] : index
// CHECK-NEXT:      %[[COL:.*]] = linalg.index 2 : index
// CHECK-NEXT:      %[[V:.*]] = tensor.extract %arg1[%[[ROW]], %[[COL]]] : tensor<1000x64xf32>
// CHECK-NEXT:      linalg.yield %[[V]] : f32
func.func @embedding(%ids: tensor<?x16xi64>, %table: tensor<1000x64xf32>) -> tensor<?x16x64xf32> {
  %0 = mdl.embedding %ids, %table : (tensor<?x16xi64>, tensor<1000x64xf32>) -> tensor<?x16x64xf32>
  return %0 : tensor<?x16x64xf32>
}
