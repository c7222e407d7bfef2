// RUN: mdl-opt %s -split-input-file --pass-pipeline="builtin.module(func.func(mdl-split-batched-matmul))" -mlir-print-local-scope | FileCheck %s

// Guards -mdl-split-batched-matmul (SplitBatchedMatmul.cpp): a batched
// contraction whose operands both carry the batch becomes an scf.forall over
// the batch around the 2-D contraction of one element's slices, the form the
// register-blocked kernels compute. A broadcast batch index (0) stays 0.

#a = affine_map<(b, h, m, n, k) -> (b, h, m, k)>
#b_kn = affine_map<(b, h, m, n, k) -> (b, h, k, n)>
#b_nk = affine_map<(b, h, m, n, k) -> (0, h, n, k)>
#c = affine_map<(b, h, m, n, k) -> (b, h, m, n)>

// CHECK-LABEL: func.func @scores
// CHECK: scf.forall (%[[B:.*]], %[[H:.*]]) in (2, 8) shared_outs(%[[O:.*]] = %{{.*}})
// CHECK-DAG: tensor.extract_slice %{{.*}}[%[[B]], %[[H]], 0, 0] [1, 1, 16, 64] [1, 1, 1, 1] : tensor<2x8x16x64xf32> to tensor<16x64xf32>
// CHECK-DAG: tensor.extract_slice %{{.*}}[%[[B]], %[[H]], 0, 0] [1, 1, 64, 32] [1, 1, 1, 1] : tensor<2x8x64x32xf32> to tensor<64x32xf32>
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME: ins(%{{.*}}, %{{.*}} : tensor<16x64xf32>, tensor<64x32xf32>) outs(%{{.*}} : tensor<16x32xf32>)
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[O]][%[[B]], %[[H]], 0, 0] [1, 1, 16, 32] [1, 1, 1, 1] : tensor<16x32xf32> into tensor<2x8x16x32xf32>
func.func @scores(%q: tensor<2x8x16x64xf32>, %k: tensor<2x8x64x32xf32>,
                  %init: tensor<2x8x16x32xf32>) -> tensor<2x8x16x32xf32> {
  %r = linalg.generic {indexing_maps = [#a, #b_kn, #c],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x8x16x64xf32>, tensor<2x8x64x32xf32>) outs(%init : tensor<2x8x16x32xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x8x16x32xf32>
  return %r : tensor<2x8x16x32xf32>
}

// -----

#a = affine_map<(b, h, m, n, k) -> (b, h, m, k)>
#b_kn = affine_map<(b, h, m, n, k) -> (b, h, k, n)>
#b_nk = affine_map<(b, h, m, n, k) -> (0, h, n, k)>
#c = affine_map<(b, h, m, n, k) -> (b, h, m, n)>

// B as [n, k], broadcast along the first batch dimension.
// CHECK-LABEL: func.func @broadcast
// CHECK: scf.forall (%[[B:.*]], %[[H:.*]]) in (2, 8)
// CHECK: tensor.extract_slice %{{.*}}[0, %[[H]], 0, 0] [1, 1, 32, 64] [1, 1, 1, 1] : tensor<1x8x32x64xf32> to tensor<32x64xf32>
// CHECK: affine_map<(d0, d1, d2) -> (d1, d2)>
func.func @broadcast(%q: tensor<2x8x16x64xf32>, %k: tensor<1x8x32x64xf32>,
                     %init: tensor<2x8x16x32xf32>) -> tensor<2x8x16x32xf32> {
  %r = linalg.generic {indexing_maps = [#a, #b_nk, #c],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x8x16x64xf32>, tensor<1x8x32x64xf32>) outs(%init : tensor<2x8x16x32xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x8x16x32xf32>
  return %r : tensor<2x8x16x32xf32>
}

// -----

#a = affine_map<(b, h, m, n, k) -> (b, h, m, k)>
#b_kn = affine_map<(b, h, m, n, k) -> (b, h, k, n)>
#b_nk = affine_map<(b, h, m, n, k) -> (0, h, n, k)>
#c = affine_map<(b, h, m, n, k) -> (b, h, m, n)>

// Not a product (a max), so left alone.
// CHECK-LABEL: func.func @not_a_product
// CHECK-NOT: scf.forall
func.func @not_a_product(%q: tensor<2x8x16x64xf32>, %k: tensor<2x8x64x32xf32>,
                         %init: tensor<2x8x16x32xf32>) -> tensor<2x8x16x32xf32> {
  %r = linalg.generic {indexing_maps = [#a, #b_kn, #c],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x8x16x64xf32>, tensor<2x8x64x32xf32>) outs(%init : tensor<2x8x16x32xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.maximumf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x8x16x32xf32>
  return %r : tensor<2x8x16x32xf32>
}
