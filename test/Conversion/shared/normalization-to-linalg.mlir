// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(convert-mdl-to-linalg))" -mlir-print-local-scope | FileCheck %s

// Guards convert-mdl-to-linalg's normalization family
// (NormalizationToLinalg.cpp): reductions are generics from an identity
// fill whose combiners may be reassociated; statistics take two passes
// (the mean, then the squared deviations from it), as PyTorch's CPU
// kernels; softmax subtracts the maximum first.

// A negative dim counts from the end; the reduced dimension is dropped.
// CHECK-LABEL: func.func @sum_last
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%[[N]]) : tensor<?xf32>
// CHECK:         %[[INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[EMPTY]] : tensor<?xf32>)
// CHECK:         %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<?x10xf32>) outs(%[[INIT]] : tensor<?xf32>)
// CHECK-NEXT:    ^bb0(%[[X:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT:      %[[S:.*]] = arith.addf %[[X]], %[[ACC]] fastmath<reassoc,contract> : f32
// CHECK-NEXT:      linalg.yield %[[S]]
// CHECK:         return %[[R]]
func.func @sum_last(%x: tensor<?x10xf32>) -> tensor<?xf32> {
  %0 = mdl.sum %x dims [-1] keepdim false : tensor<?x10xf32> -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// amax starts from -inf and keeps NaN (maximumf); keepdim expands the
// reduced dimension back as size 1.
// CHECK-LABEL: func.func @amax_keepdim
// CHECK:         %[[NEG_INF:.*]] = arith.constant 0xFF800000 : f32
// CHECK:         %[[INIT:.*]] = linalg.fill ins(%[[NEG_INF]] : f32)
// CHECK:         %[[R:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} {{.*}} outs(%[[INIT]] : tensor<?xf32>)
// CHECK:           arith.maximumf
// CHECK:         %[[N:.*]] = tensor.dim %[[R]], %c0
// CHECK:         %[[K:.*]] = tensor.expand_shape %[[R]] {{\[}}[0, 1]] output_shape [%[[N]], 1] : tensor<?xf32> into tensor<?x1xf32>
// CHECK:         return %[[K]]
func.func @amax_keepdim(%x: tensor<?x10xf32>) -> tensor<?x1xf32> {
  %0 = mdl.amax %x dims [-1] keepdim true : tensor<?x10xf32> -> tensor<?x1xf32>
  return %0 : tensor<?x1xf32>
}

// mean over the batch: the sum, divided by the batch size known only at
// run time.
// CHECK-LABEL: func.func @mean_batch
// CHECK:         %[[SUM:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>], iterator_types = ["reduction", "parallel"]}
// CHECK:           arith.addf
// CHECK:         %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK:         %[[NI:.*]] = arith.index_cast %[[N]] : index to i64
// CHECK:         %[[NF:.*]] = arith.sitofp %[[NI]] : i64 to f32
// CHECK:         %[[R:.*]] = linalg.generic {{.*}} ins(%[[SUM]] : tensor<10xf32>)
// CHECK-NEXT:    ^bb0(%[[S:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      arith.divf %[[S]], %[[NF]]
// CHECK:         return %[[R]]
func.func @mean_batch(%x: tensor<?x10xf32>) -> tensor<10xf32> {
  %0 = mdl.mean %x dims [0] keepdim false : tensor<?x10xf32> -> tensor<10xf32>
  return %0 : tensor<10xf32>
}

// The unbiased variance of 10 values: the mean (sum / 10), the sum of
// squared deviations from it, divided by 10 - 1.
// CHECK-LABEL: func.func @var_unbiased
// CHECK-DAG:     %[[NINE:.*]] = arith.constant 9.000000e+00 : f32
// CHECK-DAG:     %[[TEN:.*]] = arith.constant 1.000000e+01 : f32
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<4x10xf32>)
// CHECK:         %[[MEAN:.*]] = linalg.generic {{.*}} ins(%[[SUM]] : tensor<4xf32>)
// CHECK:           arith.divf %{{.*}}, %[[TEN]]
// CHECK:         %[[SQ:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%arg0, %[[MEAN]] : tensor<4x10xf32>, tensor<4xf32>)
// CHECK-NEXT:    ^bb0(%[[X:.*]]: f32, %[[M:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[D:.*]] = arith.subf %[[X]], %[[M]]
// CHECK-NEXT:      %[[D2:.*]] = arith.mulf %[[D]], %[[D]]
// CHECK-NEXT:      linalg.yield %[[D2]]
// CHECK:         %[[SS:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%[[SQ]] : tensor<4x10xf32>)
// CHECK:           arith.addf
// CHECK:         %[[VAR:.*]] = linalg.generic {{.*}} ins(%[[SS]] : tensor<4xf32>)
// CHECK:           arith.divf %{{.*}}, %[[NINE]]
// CHECK:         return %[[VAR]]
func.func @var_unbiased(%x: tensor<4x10xf32>) -> tensor<4xf32> {
  %0 = mdl.var %x dims [1] unbiased true keepdim false : tensor<4x10xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// softmax = exp(x - max) / sum(exp(x - max)) along dim 1.
// CHECK-LABEL: func.func @softmax
// CHECK:         %[[MAX:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<?x10xf32>)
// CHECK:           arith.maximumf
// CHECK:         %[[SHIFTED:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], {{.*}} ins(%arg0, %[[MAX]] : tensor<?x10xf32>, tensor<?xf32>)
// CHECK:           arith.subf
// CHECK:         %[[E:.*]] = linalg.generic {{.*}} ins(%[[SHIFTED]] : tensor<?x10xf32>)
// CHECK:           math.exp %
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%[[E]] : tensor<?x10xf32>)
// CHECK:           arith.addf
// CHECK:         %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], {{.*}} ins(%[[E]], %[[SUM]] : tensor<?x10xf32>, tensor<?xf32>)
// CHECK-NEXT:    ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      arith.divf %[[A]], %[[B]]
// CHECK:         return %[[R]]
func.func @softmax(%x: tensor<?x10xf32>) -> tensor<?x10xf32> {
  %0 = mdl.softmax %x dim 1 : tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}

// log_softmax = (x - max) - log(sum(exp(x - max))): no division, and no
// log of a quotient that could underflow to 0.
// CHECK-LABEL: func.func @log_softmax
// CHECK:         %[[SHIFTED:.*]] = linalg.generic {{.*}} ins(%arg0, %{{.*}} : tensor<?x10xf32>, tensor<?xf32>)
// CHECK:           arith.subf
// CHECK:         %[[E:.*]] = linalg.generic {{.*}} ins(%[[SHIFTED]] : tensor<?x10xf32>)
// CHECK:           math.exp %
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[E]] : tensor<?x10xf32>)
// CHECK:         %[[LOG:.*]] = linalg.generic {{.*}} ins(%[[SUM]] : tensor<?xf32>)
// CHECK:           math.log %
// CHECK:         %[[R:.*]] = linalg.generic {{.*}} ins(%[[SHIFTED]], %[[LOG]] : tensor<?x10xf32>, tensor<?xf32>)
// CHECK-NEXT:    ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      arith.subf %[[A]], %[[B]]
// CHECK-NOT:     arith.divf
// CHECK:         return %[[R]]
func.func @log_softmax(%x: tensor<?x10xf32>) -> tensor<?x10xf32> {
  %0 = mdl.log_softmax %x dim 1 : tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}

// batch_norm (eval): per channel scale = weight * rsqrt(var + eps),
// computed once, then (x - mean) * scale + bias, a subtraction and a
// multiply-add per element.
// CHECK-LABEL: func.func @batch_norm
// CHECK-SAME:    (%[[X:.*]]: tensor<?x4x8x8xf32>, %[[MEAN:.*]]: tensor<4xf32>, %[[VAR:.*]]: tensor<4xf32>, %[[G:.*]]: tensor<4xf32>, %[[B:.*]]: tensor<4xf32>)
// CHECK:         %[[EPS:.*]] = arith.constant 9.99999974E-6 : f32
// CHECK:         %[[SCALE:.*]] = linalg.generic {{.*}} ins(%[[VAR]], %[[G]] : tensor<4xf32>, tensor<4xf32>)
// CHECK-NEXT:    ^bb0(%[[VV:.*]]: f32, %[[GV:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[VE:.*]] = arith.addf %[[VV]], %[[EPS]]
// CHECK-NEXT:      %[[INV:.*]] = math.rsqrt %[[VE]]
// CHECK-NEXT:      %[[S:.*]] = arith.mulf %[[INV]], %[[GV]]
// CHECK-NEXT:      linalg.yield %[[S]]
// CHECK:         %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
// CHECK-SAME:      ins(%[[X]], %[[MEAN]], %[[SCALE]], %[[B]] :
// CHECK-NEXT:    ^bb0(%[[XV:.*]]: f32, %[[MV:.*]]: f32, %[[SC:.*]]: f32, %[[BV:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[D:.*]] = arith.subf %[[XV]], %[[MV]]
// CHECK-NEXT:      %[[XS:.*]] = arith.mulf %[[D]], %[[SC]]
// CHECK-NEXT:      %[[Y:.*]] = arith.addf %[[XS]], %[[BV]]
// CHECK-NEXT:      linalg.yield %[[Y]]
// CHECK:         return %[[R]]
func.func @batch_norm(%x: tensor<?x4x8x8xf32>, %m: tensor<4xf32>, %v: tensor<4xf32>, %g: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<?x4x8x8xf32> {
  %0 = mdl.batch_norm %x, %m, %v weight %g bias %b eps 1.0e-05 : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
  return %0 : tensor<?x4x8x8xf32>
}

// batch_norm_stats (training): per channel over (N, H, W), the mean, the
// biased variance (for normalizing) and the unbiased one (for the running
// variance), both from one sum of squared deviations; N * 8 * 8 values.
// Each sum one dimension at a time, W, then H, then N (shorter chains of
// additions, less rounding error).
// CHECK-LABEL: func.func @batch_norm_stats
// CHECK-DAG:     %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG:     %[[C8:.*]] = arith.constant 8 : index
// CHECK:         %[[SUMW:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%arg0 : tensor<?x4x8x8xf32>)
// CHECK:         %[[SUMH:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[SUMW]] : tensor<?x4x8xf32>)
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["reduction", "parallel"]} ins(%[[SUMH]] : tensor<?x4xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK:         %[[NH:.*]] = arith.muli %[[N]], %[[C8]]
// CHECK:         arith.muli %[[NH]], %[[C8]]
// CHECK:         %[[MEAN:.*]] = linalg.generic {{.*}} ins(%[[SUM]] : tensor<4xf32>)
// CHECK:           arith.divf
// CHECK:         %[[SQ:.*]] = linalg.generic {{.*}} ins(%arg0, %[[MEAN]] : tensor<?x4x8x8xf32>, tensor<4xf32>)
// CHECK:         %[[SSW:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[SQ]] : tensor<?x4x8x8xf32>)
// CHECK:         %[[SSH:.*]] = linalg.generic {{.*}} ins(%[[SSW]] : tensor<?x4x8xf32>)
// CHECK:         %[[SS:.*]] = linalg.generic {{.*}}iterator_types = ["reduction", "parallel"]} ins(%[[SSH]] : tensor<?x4xf32>)
// CHECK:         %[[COUNT:.*]] = arith.sitofp
// CHECK:         %[[BIASED:.*]] = linalg.generic {{.*}} ins(%[[SS]] : tensor<4xf32>)
// CHECK-NEXT:    ^bb0(%[[S:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      arith.divf %[[S]], %[[COUNT]]
// CHECK:         %[[COUNT:.*]] = arith.sitofp
// CHECK-NEXT:    %[[COUNT1:.*]] = arith.subf %[[COUNT]], %[[ONE]] : f32
// CHECK:         %[[UNBIASED:.*]] = linalg.generic {{.*}} ins(%[[SS]] : tensor<4xf32>)
// CHECK-NEXT:    ^bb0(%[[S:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      arith.divf %[[S]], %[[COUNT1]]
// CHECK:         return %[[MEAN]], %[[BIASED]], %[[UNBIASED]]
func.func @batch_norm_stats(%x: tensor<?x4x8x8xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %m, %v, %u = mdl.batch_norm_stats %x : tensor<?x4x8x8xf32> -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
  return %m, %v, %u : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}

// layer_norm over the last dimension: the statistics per (batch, token)
// with the biased variance, weight and bias indexed by the normalized
// dimension.
// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME:    (%[[X:.*]]: tensor<?x16x64xf32>, %[[G:.*]]: tensor<64xf32>, %[[B:.*]]: tensor<64xf32>)
// CHECK-DAG:     %[[EPS:.*]] = arith.constant 9.99999974E-6 : f32
// CHECK-DAG:     %[[COUNT:.*]] = arith.constant 6.400000e+01 : f32
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]] : tensor<?x16x64xf32>)
// CHECK:         %[[MEAN:.*]] = linalg.generic
// CHECK:           arith.divf %{{.*}}, %[[COUNT]]
// CHECK:         %[[SQ:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[MEAN]] : tensor<?x16x64xf32>, tensor<?x16xf32>)
// CHECK:         %[[SS:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[SQ]] : tensor<?x16x64xf32>)
// CHECK:         %[[VAR:.*]] = linalg.generic {{.*}} ins(%[[SS]] : tensor<?x16xf32>)
// CHECK:           arith.divf %{{.*}}, %[[COUNT]]
// CHECK:         %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d2)>, affine_map<(d0, d1, d2) -> (d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]}
// CHECK-SAME:      ins(%[[X]], %[[MEAN]], %[[VAR]], %[[G]], %[[B]] :
// CHECK:           arith.addf %{{.*}}, %[[EPS]]
// CHECK:           math.rsqrt
// CHECK:         return %[[R]]
func.func @layer_norm(%x: tensor<?x16x64xf32>, %g: tensor<64xf32>, %b: tensor<64xf32>) -> tensor<?x16x64xf32> {
  %0 = mdl.layer_norm %x weight %g bias %b normalized_shape [64] eps 1.0e-05 : (tensor<?x16x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x16x64xf32>
  return %0 : tensor<?x16x64xf32>
}
