// RUN: mdl-opt %s --pass-pipeline="builtin.module(mdl-winograd-conv)" | FileCheck %s

// 3x3 stride-1 convolutions with even outputs of at least 14x14 pixels
// become calls of one function per shape, from the transformed filter; the
// rest (stride 2, odd sizes, small images) stay convolutions for
// -mdl-conv-to-gemm. A parameter's filter (in a forward function, as
// -mdl-lower-state marks them) is transformed once per state, by
// @modelc_prepare into an argument that the forward functions take last.
func.func @convs(%x: tensor<?x8x30x30xf32>, %w: tensor<16x8x3x3xf32>, %init: tensor<?x16x28x28xf32>,
                 %x2: tensor<?x8x57x57xf32>, %init2: tensor<?x16x28x28xf32>,
                 %x3: tensor<?x8x29x29xf32>, %init3: tensor<?x16x27x27xf32>,
                 %x4: tensor<?x8x10x10xf32>, %init4: tensor<?x16x8x8xf32>) -> (tensor<?x16x28x28xf32>, tensor<?x16x28x28xf32>, tensor<?x16x28x28xf32>, tensor<?x16x27x27xf32>, tensor<?x16x8x8xf32>) {
  %a = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<?x8x30x30xf32>, tensor<16x8x3x3xf32>) outs(%init : tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  %b = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<?x8x30x30xf32>, tensor<16x8x3x3xf32>) outs(%a : tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x2, %w : tensor<?x8x57x57xf32>, tensor<16x8x3x3xf32>) outs(%init2 : tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  %d = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x3, %w : tensor<?x8x29x29xf32>, tensor<16x8x3x3xf32>) outs(%init3 : tensor<?x16x27x27xf32>) -> tensor<?x16x27x27xf32>
  %e = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x4, %w : tensor<?x8x10x10xf32>, tensor<16x8x3x3xf32>) outs(%init4 : tensor<?x16x8x8xf32>) -> tensor<?x16x8x8xf32>
  return %a, %b, %c, %d, %e : tensor<?x16x28x28xf32>, tensor<?x16x28x28xf32>, tensor<?x16x28x28xf32>, tensor<?x16x27x27xf32>, tensor<?x16x8x8xf32>
}

func.func @modelc_forward_eval(%w: memref<16x8x3x3xf32>, %x: tensor<?x8x30x30xf32>, %init: tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32> attributes {llvm.emit_c_interface, mdl.parameter_args = array<i64: 0>} {
  %f = bufferization.to_tensor %w restrict : memref<16x8x3x3xf32> to tensor<16x8x3x3xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %f : tensor<?x8x30x30xf32>, tensor<16x8x3x3xf32>) outs(%init : tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  return %y : tensor<?x16x28x28xf32>
}

// Small images (16 to 63 output pixels, odd sizes too) take the whole batch
// at once: 7x7 is computed as 8x8 (the image padded by one more row and
// column) and cropped, then added to the output (bias or not: %init is an
// argument here).
func.func @small(%x: tensor<?x8x9x9xf32>, %w: tensor<16x8x3x3xf32>, %init: tensor<?x16x7x7xf32>) -> tensor<?x16x7x7xf32> {
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<?x8x9x9xf32>, tensor<16x8x3x3xf32>) outs(%init : tensor<?x16x7x7xf32>) -> tensor<?x16x7x7xf32>
  return %y : tensor<?x16x7x7xf32>
}

// A static batch: the even-sized result of the 7x7 convolution is a static
// tensor too. An output of static batch from an image of dynamic batch
// names its function like the dynamic one's: it gets a suffix.
func.func @small_static(%x: tensor<2x8x9x9xf32>, %w: tensor<16x8x3x3xf32>, %init: tensor<2x16x7x7xf32>) -> tensor<2x16x7x7xf32> {
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<2x8x9x9xf32>, tensor<16x8x3x3xf32>) outs(%init : tensor<2x16x7x7xf32>) -> tensor<2x16x7x7xf32>
  return %y : tensor<2x16x7x7xf32>
}
func.func @mixed(%x: tensor<?x8x30x30xf32>, %w: tensor<16x8x3x3xf32>, %init: tensor<2x16x28x28xf32>, %init2: tensor<?x16x28x28xf32>) -> (tensor<2x16x28x28xf32>, tensor<?x16x28x28xf32>) {
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<?x8x30x30xf32>, tensor<16x8x3x3xf32>) outs(%init : tensor<2x16x28x28xf32>) -> tensor<2x16x28x28xf32>
  %z = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<?x8x30x30xf32>, tensor<16x8x3x3xf32>) outs(%init2 : tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  return %y, %z : tensor<2x16x28x28xf32>, tensor<?x16x28x28xf32>
}

// CHECK-DAG: #[[TAPMAJOR:.*]] = affine_map<(d0, d1, d2, d3) -> (d2, d3, d0, d1)>
// CHECK-DAG: #[[TAP00:.*]] = affine_map<(d0, d1, d2) -> (0, 0, d1, d2)>
// CHECK-DAG: #[[TAP22:.*]] = affine_map<(d0, d1, d2) -> (2, 2, d1, d2)>
// CHECK-DAG: #[[T0:.*]] = affine_map<(d0, d1, d2) -> (d0, 0)>
// CHECK-DAG: #[[T8:.*]] = affine_map<(d0, d1, d2) -> (d0, 8)>
// CHECK-DAG: #[[ID3:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[D00:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2 * 2, d3 * 2)>
// CHECK-DAG: #[[D33:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2 * 2 + 3, d3 * 2 + 3)>
// CHECK-DAG: #[[U:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[V:.*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-DAG: #[[M:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[TILE:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d1, d2 * 14 + d4)>
// CHECK-DAG: #[[BATCHIN:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d0, d2, d3)>
// CHECK-DAG: #[[BATCHTILE:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d1, d0 * 16 + d2 * 4 + d4)>
// CHECK: module attributes {mdl.derived = [{kind = "winograd", shape = array<i64: 16, 16, 8>, state = 0 : i64}]}

// Not a forward function: the filter transform before each call. The
// filter copied tap-major, then U[p, o, i] = sum_t T[p, t] g[t, o, i] with
// T = G (x) G, [16, 9].
// CHECK-LABEL: func.func @convs
// CHECK:         %[[TAPS:.*]] = linalg.generic {indexing_maps = [#[[TAPMAJOR]], {{.*}}]{{.*}} ins(%arg1 : tensor<16x8x3x3xf32>) outs(%{{.*}} : tensor<3x3x16x8xf32>) attrs = {mdl.tile_sizes = array<i64: 0, 0, 16, 0>}
// CHECK:         %[[T:.*]] = arith.constant dense<{{.*}}> : tensor<16x9xf32>
// CHECK:         %[[UT:.*]] = linalg.generic {indexing_maps = [#[[TAP00]], {{.*}}, #[[TAP22]], #[[T0]], {{.*}}, #[[T8]], #[[ID3]]]{{.*}} ins(%[[TAPS]], {{.*}}, %[[T]], {{.*}}) outs(%{{.*}} : tensor<16x16x8xf32>) attrs = {mdl.tile_sizes = array<i64: 1, 16, 0>}
// CHECK-COUNT-8:   arith.mulf
// CHECK:         %[[A:.*]] = call @modelc_winograd_nx8x28x28_16_acc(%arg0, %[[UT]], %arg2)
// CHECK:         call @modelc_winograd_nx8x28x28_16_acc(%arg0, %{{.*}}, %[[A]])
// CHECK-COUNT-3: linalg.conv_2d_nchw_fchw
// CHECK-NOT:     call @modelc_winograd

// A forward function: the transformed filter of parameter 0 is its last
// argument.
// CHECK-LABEL: func.func @modelc_forward_eval(
// CHECK-SAME:    %[[FW:.*]]: memref<16x8x3x3xf32>, %[[FX:.*]]: tensor<?x8x30x30xf32>, %[[FINIT:.*]]: tensor<?x16x28x28xf32>, %[[FU:.*]]: memref<16x16x8xf32>)
// CHECK-NOT:     linalg.generic
// CHECK:         %[[FUT:.*]] = bufferization.to_tensor %[[FU]] restrict : memref<16x16x8xf32> to tensor<16x16x8xf32>
// CHECK:         call @modelc_winograd_nx8x28x28_16_acc(%[[FX]], %[[FUT]], %[[FINIT]])

// CHECK-LABEL: func.func @small
// CHECK:         call @modelc_winograd_nx8x7x7_16_acc(
// CHECK-LABEL: func.func @small_static
// CHECK:         call @modelc_winograd_2x8x7x7_16_acc(
// CHECK-LABEL: func.func @mixed
// CHECK:         call @modelc_winograd_nx8x28x28_16_acc_1(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<?x8x30x30xf32>, tensor<16x16x8xf32>, tensor<2x16x28x28xf32>)
// CHECK:         call @modelc_winograd_nx8x28x28_16_acc(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<?x8x30x30xf32>, tensor<16x16x8xf32>, tensor<?x16x28x28xf32>)

// The transform, one function per filter shape, and once per state, from
// the state arguments into the derived value.
// CHECK-LABEL: func.func private @modelc_winograd_filter_16x8(
// CHECK-SAME:    %{{.*}}: tensor<16x8x3x3xf32>, %[[INTO:.*]]: tensor<16x16x8xf32>) -> tensor<16x16x8xf32>
// CHECK:         linalg.generic
// CHECK:         linalg.generic {{.*}} outs(%[[INTO]] : tensor<16x16x8xf32>)
// CHECK:         return
// CHECK-LABEL: func.func @modelc_prepare(
// CHECK-SAME:    %[[PW:.*]]: memref<16x8x3x3xf32>, %[[PU:.*]]: memref<16x16x8xf32>) attributes {llvm.emit_c_interface}
// CHECK:         %[[PF:.*]] = bufferization.to_tensor %[[PW]] restrict
// CHECK:         %[[PINTO:.*]] = bufferization.to_tensor %[[PU]] restrict writable
// CHECK:         %[[PUT:.*]] = call @modelc_winograd_filter_16x8(%[[PF]], %[[PINTO]]) : (tensor<16x8x3x3xf32>, tensor<16x16x8xf32>) -> tensor<16x16x8xf32>
// CHECK:         bufferization.materialize_in_destination %[[PUT]] in restrict writable %[[PU]] : (tensor<16x16x8xf32>, memref<16x16x8xf32>) -> ()

// Image by image: B^T d B of the 4x4 tiles under 2x2 output blocks.
// CHECK-LABEL: func.func private @modelc_winograd_nx8x28x28_16_acc(
// CHECK-SAME:    %[[X:.*]]: tensor<?x8x30x30xf32>, %[[UA:.*]]: tensor<16x16x8xf32>, %[[INIT:.*]]: tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
// CHECK:         scf.for %[[N:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %[[INIT]])
// CHECK:           %[[IMG:.*]] = tensor.extract_slice %[[X]][%[[N]], 0, 0, 0] [1, 8, 30, 30]
// CHECK:           %[[OUT:.*]] = tensor.extract_slice %[[ACC]][%[[N]], 0, 0, 0] [1, 16, 28, 28]
// CHECK:           %[[VT:.*]]:16 = linalg.generic {indexing_maps = [#[[D00]], {{.*}}, #[[D33]], {{.*}}]{{.*}} ins(%[[IMG]], {{.*}}) {{.*}} attrs = {mdl.tile_sizes = array<i64: 1, 1, 0, 0>}
// CHECK:           } -> (tensor<1x8x14x14xf32>,
// 16 contractions in the outer-product kernel's form, [CO, CI] x [CI, tiles].
// CHECK:           tensor.extract_slice %[[UA]][0, 0, 0] [1, 16, 8] [1, 1, 1] : tensor<16x16x8xf32> to tensor<16x8xf32>
// CHECK-COUNT-16:  linalg.generic {indexing_maps = [#[[U]], #[[V]], #[[M]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<16x8xf32>, tensor<8x196xf32>) outs(%{{.*}} : tensor<16x196xf32>) attrs = {mdl.tile_sizes = array<i64: 16, 0, 0>}
// A^T m A added to the output, the 2x2 block's pixels as dims 3 and 5.
// CHECK:           %[[BLOCKS:.*]] = tensor.expand_shape %[[OUT]] {{\[}}[0], [1], [2, 3], [4, 5]] output_shape [1, 16, 14, 2, 14, 2]
// CHECK:           %[[Y:.*]] = linalg.generic {indexing_maps = [#[[TILE]], {{.*}}]{{.*}} outs(%[[BLOCKS]] : tensor<1x16x14x2x14x2xf32>) attrs = {mdl.tile_sizes = array<i64: 1, 16, 0, 0, 0, 0>}
// CHECK:             linalg.index 3
// CHECK:             linalg.index 5
// CHECK:           %[[YI:.*]] = tensor.collapse_shape %[[Y]] {{\[}}[0], [1], [2, 3], [4, 5]] : tensor<1x16x14x2x14x2xf32> into tensor<1x16x28x28xf32>
// CHECK:           tensor.insert_slice %[[YI]] into %[[ACC]][%[[N]], 0, 0, 0] [1, 16, 28, 28]
// CHECK-NOT:   func.func private @modelc_winograd

// The batch at once: tiles [CI, N, TH, TW], contractions [CO, CI] x [CI, N*T].
// CHECK-LABEL: func.func private @modelc_winograd_nx8x7x7_16_acc(
// CHECK-SAME:    %[[SX:.*]]: tensor<?x8x9x9xf32>, %[[SU:.*]]: tensor<16x16x8xf32>, %[[SINIT:.*]]: tensor<?x16x7x7xf32>)
// CHECK:         %[[SP:.*]] = tensor.pad %[[SX]] low[0, 0, 0, 0] high[0, 0, 1, 1]
// CHECK:         %[[SV:.*]]:16 = linalg.generic {indexing_maps = [{{.*}}, #[[BATCHIN]], {{.*}}]{{.*}} ins(%[[SP]], {{.*}}) {{.*}} attrs = {mdl.tile_sizes = array<i64: 1, 1, 0, 0>}
// CHECK:         } -> (tensor<8x?x4x4xf32>,
// CHECK:         %[[COLS:.*]] = tensor.dim %{{.*}}, %c1 : tensor<8x?xf32>
// CHECK:         bufferization.alloc_tensor(%[[COLS]]) : tensor<16x?xf32>
// CHECK-COUNT-16:  linalg.generic {indexing_maps = [#[[U]], #[[V]], #[[M]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<16x8xf32>, tensor<8x?xf32>) outs(%{{.*}} : tensor<16x?xf32>) attrs = {mdl.tile_sizes = array<i64: 16, 0, 0>}
// CHECK:         %[[FULL:.*]] = tensor.empty(%{{.*}}) : tensor<?x16x8x8xf32>
// CHECK:         tensor.expand_shape %[[FULL]]
// CHECK:         %[[SY:.*]] = linalg.generic {indexing_maps = [#[[BATCHTILE]], {{.*}}]{{.*}} outs(%{{.*}} : tensor<?x16x4x2x4x2xf32>) attrs = {mdl.tile_sizes = array<i64: 0, 16, 0, 0, 0, 0>}
// CHECK:         %[[SYC:.*]] = tensor.collapse_shape %[[SY]]
// CHECK:         %[[CROP:.*]] = tensor.extract_slice %[[SYC]][0, 0, 0, 0] [%{{.*}}, 16, 7, 7] [1, 1, 1, 1]
// The crop added into the output argument itself (in place, as the other
// paths write).
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[CROP]] : tensor<?x16x7x7xf32>) outs(%[[SINIT]] : tensor<?x16x7x7xf32>)
// CHECK:         arith.addf
// CHECK:         return %[[SUM]]
// CHECK-LABEL: func.func private @modelc_winograd_2x8x7x7_16_acc(
// CHECK:         tensor.empty() : tensor<2x16x8x8xf32>
// CHECK:         tensor.extract_slice %{{.*}}[0, 0, 0, 0] [2, 16, 7, 7] [1, 1, 1, 1] : tensor<2x16x8x8xf32> to tensor<2x16x7x7xf32>
// CHECK:       func.func private @modelc_winograd_nx8x28x28_16_acc_1(
