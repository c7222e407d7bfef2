// RUN: mdl-opt %s --pass-pipeline="builtin.module(mdl-pack-weights)" | FileCheck %s

// Linear's x W^T on a parameter W [20, 37] of a forward function: the
// forward functions take W packed in panels of 16 columns, [2, 37, 16],
// after their inputs; modelc_prepare computes it from the state; the
// contraction itself still reads W (-mdl-blocked-dot-kernels picks).
#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (n, k)>
#y = affine_map<(m, n, k) -> (m, n)>
func.func @modelc_forward_eval(%w: memref<20x37xf32>, %small: memref<7x37xf32>,
                               %x: tensor<?x37xf32>, %init: tensor<?x20xf32>,
                               %init7: tensor<?x7xf32>, %other: tensor<20x37xf32>)
    -> (tensor<?x20xf32>, tensor<?x7xf32>, tensor<?x20xf32>)
    attributes {mdl.parameter_args = array<i64: 0, 1>} {
  %wt = bufferization.to_tensor %w restrict : memref<20x37xf32> to tensor<20x37xf32>
  %y = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %wt : tensor<?x37xf32>, tensor<20x37xf32>) outs(%init : tensor<?x20xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<?x20xf32>
  // Fewer than 8 outputs: a panel would be mostly padding.
  %st = bufferization.to_tensor %small restrict : memref<7x37xf32> to tensor<7x37xf32>
  %y7 = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %st : tensor<?x37xf32>, tensor<7x37xf32>) outs(%init7 : tensor<?x7xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<?x7xf32>
  // Not a parameter: an input, different on every call.
  %z = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %other : tensor<?x37xf32>, tensor<20x37xf32>) outs(%init : tensor<?x20xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<?x20xf32>
  return %y, %y7, %z : tensor<?x20xf32>, tensor<?x7xf32>, tensor<?x20xf32>
}
// CHECK: module attributes {mdl.derived = [{kind = "packed", shape = array<i64: 2, 37, 16>, state = 0 : i64}]}
// CHECK-LABEL: func.func @modelc_forward_eval(
// CHECK-SAME:    %[[W:.*]]: memref<20x37xf32>, %{{.*}}: memref<7x37xf32>, %{{.*}}: tensor<?x37xf32>, %{{.*}}: tensor<?x20xf32>, %{{.*}}: tensor<?x7xf32>, %{{.*}}: tensor<20x37xf32>, %{{.*}}: memref<2x37x16xf32>)
// CHECK:         %[[WT:.*]] = bufferization.to_tensor %[[W]]
// CHECK:         linalg.generic {{.*}} ins(%{{.*}}, %[[WT]] : tensor<?x37xf32>, tensor<20x37xf32>)

// P[p, k, j] = W[16 p + j, k]: W padded to 32 rows with zeros, split into
// panels, each transposed.
// CHECK-LABEL: func.func private @modelc_pack_weight_20x37(
// CHECK-SAME:    %[[PW:.*]]: tensor<20x37xf32>, %[[INTO:.*]]: tensor<2x37x16xf32>) -> tensor<2x37x16xf32>
// CHECK:         %[[PAD:.*]] = tensor.pad %[[PW]] low[0, 0] high[12, 0]
// CHECK:           tensor.yield %{{.*}} : f32
// CHECK:         %[[SPLIT:.*]] = tensor.expand_shape %[[PAD]] {{\[\[}}0, 1], [2]] output_shape [2, 16, 37] : tensor<32x37xf32> into tensor<2x16x37xf32>
// CHECK:         %[[T:.*]] = linalg.transpose ins(%[[SPLIT]] : tensor<2x16x37xf32>) outs(%[[INTO]] : tensor<2x37x16xf32>) permutation = [0, 2, 1]
// CHECK:         return %[[T]]

// Once per state, from the state arguments into the derived value.
// CHECK-LABEL: func.func @modelc_prepare(
// CHECK-SAME:    %[[SW:.*]]: memref<20x37xf32>, %{{.*}}: memref<7x37xf32>, %[[SP:.*]]: memref<2x37x16xf32>) attributes {llvm.emit_c_interface}
// CHECK:         %[[F:.*]] = bufferization.to_tensor %[[SW]] restrict
// CHECK:         %[[I:.*]] = bufferization.to_tensor %[[SP]] restrict writable
// CHECK:         %[[R:.*]] = call @modelc_pack_weight_20x37(%[[F]], %[[I]])
// CHECK:         bufferization.materialize_in_destination %[[R]] in restrict writable %[[SP]]
// CHECK-NEXT:    return
