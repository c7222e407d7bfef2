// RUN: mdl-opt %s --pass-pipeline="builtin.module(mdl-pack-weights)" | FileCheck %s

// Linear's x W^T on a parameter W [20, 37] of a forward function: the
// forward functions take W packed in panels of 16 columns, [2, 37, 16],
// after their inputs; modelc_prepare computes it from the state; the
// contraction itself still reads W (-mdl-blocked-dot-kernels picks).
#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (n, k)>
#y = affine_map<(m, n, k) -> (m, n)>
func.func @modelc_forward_eval(%w: memref<20x37xf32>, %small: memref<7x37xf32>,
                               %w2: memref<24x37xf32>, %x: tensor<?x37xf32>,
                               %init: tensor<?x20xf32>, %init7: tensor<?x7xf32>,
                               %other: tensor<20x37xf32>)
    -> (tensor<?x20xf32>, tensor<?x7xf32>, tensor<?x20xf32>)
    attributes {mdl.parameter_args = array<i64: 0, 1, 2>} {
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
// The training forward reads the same parameter: the same packed value,
// after its inputs too. A static batch of 2 packs nothing (the packed kernel
// takes 4 rows or more): its weight (state 2) has no packed copy.
func.func @modelc_forward_train(%w: memref<20x37xf32>, %small: memref<7x37xf32>,
                                %w2: memref<24x37xf32>, %x: tensor<?x37xf32>,
                                %init: tensor<?x20xf32>, %x2: tensor<2x37xf32>,
                                %init2: tensor<2x24xf32>) -> (tensor<?x20xf32>, tensor<2x24xf32>)
    attributes {mdl.parameter_args = array<i64: 0, 1, 2>} {
  %wt = bufferization.to_tensor %w restrict : memref<20x37xf32> to tensor<20x37xf32>
  %y = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %wt : tensor<?x37xf32>, tensor<20x37xf32>) outs(%init : tensor<?x20xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<?x20xf32>
  %w2t = bufferization.to_tensor %w2 restrict : memref<24x37xf32> to tensor<24x37xf32>
  %y2 = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x2, %w2t : tensor<2x37xf32>, tensor<24x37xf32>) outs(%init2 : tensor<2x24xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x24xf32>
  return %y, %y2 : tensor<?x20xf32>, tensor<2x24xf32>
}
// CHECK: module attributes {mdl.derived = [{kind = "packed", shape = array<i64: 2, 37, 16>, state = 0 : i64}]}
// CHECK-LABEL: func.func @modelc_forward_eval(
// CHECK-SAME:    %[[W:.*]]: memref<20x37xf32>, %{{.*}}: memref<7x37xf32>, %{{.*}}: memref<24x37xf32>, %{{.*}}: tensor<?x37xf32>, %{{.*}}: tensor<?x20xf32>, %{{.*}}: tensor<?x7xf32>, %{{.*}}: tensor<20x37xf32>, %{{.*}}: memref<2x37x16xf32>)
// CHECK:         %[[WT:.*]] = bufferization.to_tensor %[[W]]
// CHECK:         linalg.generic {{.*}} ins(%{{.*}}, %[[WT]] : tensor<?x37xf32>, tensor<20x37xf32>)
// CHECK-LABEL: func.func @modelc_forward_train(
// CHECK-SAME:    %{{.*}}: tensor<2x24xf32>, %{{.*}}: memref<2x37x16xf32>) -> (tensor<?x20xf32>, tensor<2x24xf32>)
// CHECK-NOT:   modelc_pack_weight_24x37

// P[p, k, j] = W[16 p + j, k], zero past row 20. The whole panels (1) in
// parallel, each 8 steps of k as 8 contiguous floats of 16 rows, transposed
// 8 x 8 by shuffles into 8 contiguous rows of P per half panel; the last
// 37 % 8 steps element by element. Then the last panel, rows 16..19 read
// and the rest zero.
// CHECK-LABEL: func.func private @modelc_pack_weight_20x37(
// CHECK-SAME:    %[[PW:.*]]: tensor<20x37xf32>, %[[INTO:.*]]: tensor<2x37x16xf32>) -> tensor<2x37x16xf32>
// CHECK:         %[[G:.*]] = scf.forall (%[[P:.*]]) in (1) shared_outs(%[[O:.*]] = %[[INTO]]) -> (tensor<2x37x16xf32>)
// CHECK:           %[[S:.*]] = tensor.extract_slice %[[O]][%[[P]], 0, 0] [1, 37, 16] [1, 1, 1] : tensor<2x37x16xf32> to tensor<37x16xf32>
// CHECK:           %[[R0:.*]] = arith.muli %[[P]], %c16
// CHECK:           scf.for %[[K:.*]] = %c0{{.*}} to %c32{{.*}} step %c8{{.*}} iter_args(%{{.*}} = %[[S]]) -> (tensor<37x16xf32>)
// CHECK:             vector.transfer_read %[[PW]][%[[R0]], %[[K]]], %{{.*}} {in_bounds = [true]} : tensor<20x37xf32>, vector<8xf32>
// CHECK-COUNT-7:     vector.transfer_read %[[PW]][%{{.*}}, %[[K]]]
// CHECK:             vector.shuffle %{{.*}}, %{{.*}} [0, 8, 1, 9, 4, 12, 5, 13] : vector<8xf32>, vector<8xf32>
// CHECK-COUNT-23:    vector.shuffle
// CHECK:             vector.transfer_write %{{.*}}, %{{.*}}[%[[K]], %c0{{.*}}] {in_bounds = [true]} : vector<8xf32>, tensor<37x16xf32>
// CHECK-COUNT-7:     vector.transfer_write %{{.*}} : vector<8xf32>, tensor<37x16xf32>
// CHECK-COUNT-8:     vector.transfer_read %[[PW]][%{{.*}}, %[[K]]]
// CHECK-COUNT-24:    vector.shuffle
// CHECK:             vector.transfer_write %{{.*}}, %{{.*}}[%[[K]], %c8{{.*}}] {in_bounds = [true]} : vector<8xf32>, tensor<37x16xf32>
// CHECK-COUNT-7:     vector.transfer_write %{{.*}} : vector<8xf32>, tensor<37x16xf32>
// CHECK:             scf.yield
// CHECK-COUNT-16:  tensor.extract %[[PW]][%{{.*}}, %c32{{.*}}]
// CHECK:           vector.from_elements {{.*}} : vector<16xf32>
// CHECK:           vector.transfer_write %{{.*}}, %{{.*}}[%c32{{.*}}, %c0{{.*}}] {in_bounds = [true]} : vector<16xf32>, tensor<37x16xf32>
// CHECK-COUNT-4:   vector.transfer_write %{{.*}} : vector<16xf32>, tensor<37x16xf32>
// CHECK:           scf.forall.in_parallel
// CHECK-NEXT:        tensor.parallel_insert_slice %{{.*}} into %[[O]][%[[P]], 0, 0] [1, 37, 16] [1, 1, 1] : tensor<37x16xf32> into tensor<2x37x16xf32>
// CHECK:         %[[L:.*]] = tensor.extract_slice %[[G]][%c1, 0, 0] [1, 37, 16] [1, 1, 1] : tensor<2x37x16xf32> to tensor<37x16xf32>
// CHECK:         scf.for %[[K2:.*]] = %c0{{.*}} to %c32{{.*}} step %c8{{.*}} iter_args(%{{.*}} = %[[L]])
// CHECK:           vector.transfer_read %[[PW]][%c16, %[[K2]]]
// CHECK-COUNT-3:   vector.transfer_read %[[PW]][%{{.*}}, %[[K2]]]
// CHECK-NOT:       vector.transfer_read
// CHECK:           vector.shuffle %[[Z:cst[_0-9]*]], %[[Z]] [0, 8, 1, 9, 4, 12, 5, 13]
// CHECK:           scf.yield
// CHECK:         vector.from_elements %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %[[ZS:cst[_0-9]*]], %[[ZS]],
// CHECK:         %[[IS:.*]] = tensor.insert_slice %{{.*}} into %[[G]][%c1, 0, 0] [1, 37, 16] [1, 1, 1] : tensor<37x16xf32> into tensor<2x37x16xf32>
// CHECK:         return %[[IS]]

// Once per state, from the state arguments into the derived value.
// CHECK-LABEL: func.func @modelc_prepare(
// CHECK-SAME:    %[[SW:.*]]: memref<20x37xf32>, %{{.*}}: memref<7x37xf32>, %{{.*}}: memref<24x37xf32>, %[[SP:.*]]: memref<2x37x16xf32>) attributes {llvm.emit_c_interface}
// CHECK:         %[[F:.*]] = bufferization.to_tensor %[[SW]] restrict
// CHECK:         %[[I:.*]] = bufferization.to_tensor %[[SP]] restrict writable
// CHECK:         %[[R:.*]] = call @modelc_pack_weight_20x37(%[[F]], %[[I]])
// CHECK:         bufferization.materialize_in_destination %[[R]] in restrict writable %[[SP]]
// CHECK-NEXT:    return
