// RUN: mdl-opt %s -mdl-attention-to-linalg=block-rows=64 | FileCheck %s --check-prefix=FLASH
// RUN: mdl-opt %s -mdl-attention-to-linalg | FileCheck %s --check-prefix=WHOLE

// mdl.attention by blocks (the CPU: flash attention with an online
// softmax) and whole (the GPU: the scores materialized).

// The transposition's map (printed first).
// FLASH: #[[$SWAP:.*]] = affine_map<(d0, d1) -> (d1, d0)>

func.func private @modelc_shape_check_failed(i64, i64, i64, i64, i64)

// Batch dimensions' run-time sizes checked, then flattened; blocks of 64
// queries (2) in an scf.forall, blocks of 64 keys in an scf.for that stops
// at the block of keys holding the block's last query's key (causal), with the running max, sum and
// accumulator as its iter_args, updated in place.
// FLASH-LABEL: func.func @causal(
// The key's and the value's first size against the query's (the second
// is 2 in all three):
// FLASH: %[[KN:.*]] = tensor.dim %arg1, %c0
// FLASH: %[[QN:.*]] = tensor.dim %arg0, %c0
// FLASH: %[[DIFFER:.*]] = arith.cmpi ne, %[[KN]], %[[QN]]
// FLASH: scf.if %[[DIFFER]]
// FLASH: func.call @modelc_shape_check_failed
// FLASH: tensor.dim %arg2, %c0
// FLASH: scf.if
// FLASH: func.call @modelc_shape_check_failed
// FLASH-NOT: scf.if
// FLASH: %[[Q:.*]] = tensor.collapse_shape %arg0 {{\[}}[0, 1], [2], [3]] : tensor<?x2x128x16xf32> into tensor<?x128x16xf32>
// FLASH: %[[K:.*]] = tensor.collapse_shape %arg1
// FLASH: %[[V:.*]] = tensor.collapse_shape %arg2
// FLASH: scf.forall (%[[N:.*]], %[[B:.*]]) in (%{{.*}}, 2) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<?x128x8xf32>)
// FLASH: %[[ROW0:.*]] = arith.muli %[[B]], %c64
// FLASH: %[[QB:.*]] = tensor.extract_slice %[[Q]][%[[N]], %[[ROW0]], 0] [1, 64, 16] [1, 1, 1] : tensor<?x128x16xf32> to tensor<64x16xf32>
// FLASH: %[[LAST:.*]] = arith.addi %[[ROW0]], %c64
// FLASH: %[[BLOCKS:.*]] = arith.ceildivui %[[LAST]], %c64
// FLASH: %[[UP:.*]] = arith.muli %[[BLOCKS]], %c64
// FLASH: %[[END:.*]] = arith.minui %c192{{.*}}, %[[UP]]
// FLASH: %[[M0:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<64xf32>)
// FLASH: %[[S0:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<64xf32>)
// FLASH: %[[A0:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<64x8xf32>)
// FLASH: %[[LOOP:.*]]:3 = scf.for %[[COL0:.*]] = %c0{{.*}} to %[[END]] step %c64{{.*}} iter_args(%[[M:.*]] = %[[M0]], %[[S:.*]] = %[[S0]], %[[A:.*]] = %[[A0]])
// FLASH: %[[KB:.*]] = tensor.extract_slice %[[K]][%[[N]], %[[COL0]], 0] [1, 64, 16]
// The block of keys transposed; q kᵀ in the outer-product form, then the
// scale and the causal mask:
// FLASH: %[[KT:.*]] = linalg.generic {indexing_maps = [#[[$SWAP]], {{.*}} ins(%[[KB]] : tensor<64x16xf32>) outs(%{{.*}} : tensor<16x64xf32>)
// FLASH: %[[DOT:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[QB]], %[[KT]] : tensor<64x16xf32>, tensor<16x64xf32>) outs(%{{.*}} : tensor<64x64xf32>)
// FLASH: %[[SC:.*]] = linalg.generic {{.*}} ins(%[[DOT]] : tensor<64x64xf32>)
// FLASH: arith.mulf %{{.*}}, %cst{{.*}}
// FLASH: linalg.index 0
// FLASH: arith.addi %{{.*}}, %[[ROW0]]
// FLASH: linalg.index 1
// FLASH: arith.addi %{{.*}}, %[[COL0]]
// FLASH: arith.cmpi ugt
// FLASH: arith.select
// The block's row max; the correction exp(m - max(m, block max)), read
// before m is updated in place; p; the sum and the accumulator corrected in
// place and accumulated; p v in the outer-product form.
// FLASH: %[[BMAX:.*]] = linalg.generic {{.*}} ins(%[[SC]] : tensor<64x64xf32>) outs(%{{.*}} : tensor<64xf32>)
// FLASH: arith.maximumf
// FLASH: %[[C:.*]] = linalg.generic {{.*}} ins(%[[M]], %[[BMAX]] : tensor<64xf32>, tensor<64xf32>)
// FLASH: math.exp
// FLASH: %[[M2:.*]] = linalg.generic {{.*}} ins(%[[BMAX]] : tensor<64xf32>) outs(%[[M]] : tensor<64xf32>)
// FLASH: %[[P:.*]] = linalg.generic {{.*}} ins(%[[SC]], %[[M2]] : tensor<64x64xf32>, tensor<64xf32>)
// FLASH: math.exp
// FLASH: %[[SC2:.*]] = linalg.generic {{.*}} ins(%[[C]] : tensor<64xf32>) outs(%[[S]] : tensor<64xf32>)
// FLASH: %[[S2:.*]] = linalg.generic {{.*}} ins(%[[P]] : tensor<64x64xf32>) outs(%[[SC2]] : tensor<64xf32>)
// FLASH: %[[AC:.*]] = linalg.generic {{.*}} ins(%[[C]] : tensor<64xf32>) outs(%[[A]] : tensor<64x8xf32>)
// FLASH: %[[VB:.*]] = tensor.extract_slice %[[V]][%[[N]], %[[COL0]], 0] [1, 64, 8]
// FLASH: %[[A2:.*]] = linalg.generic {{.*}} ins(%[[P]], %[[VB]] : tensor<64x64xf32>, tensor<64x8xf32>) outs(%[[AC]] : tensor<64x8xf32>)
// FLASH: scf.yield %[[M2]], %[[S2]], %[[A2]]
// FLASH: %[[Y:.*]] = linalg.generic {{.*}} ins(%[[LOOP]]#2, %[[LOOP]]#1 : tensor<64x8xf32>, tensor<64xf32>)
// FLASH: arith.divf
// FLASH: scf.forall.in_parallel
// FLASH: tensor.parallel_insert_slice %[[Y]] into %[[OUT]][%[[N]], %[[ROW0]], 0] [1, 64, 8]
// FLASH: tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2], [3]] output_shape [%{{.*}}, 2, 128, 8] : tensor<?x128x8xf32> into tensor<?x2x128x8xf32>
func.func @causal(%q: tensor<?x2x128x16xf32>, %k: tensor<?x2x192x16xf32>, %v: tensor<?x2x192x8xf32>) -> tensor<?x2x128x8xf32> {
  %0 = mdl.attention %q, %k, %v {is_causal, scale = 0.25 : f64} : (tensor<?x2x128x16xf32>, tensor<?x2x192x16xf32>, tensor<?x2x192x8xf32>) -> tensor<?x2x128x8xf32>
  return %0 : tensor<?x2x128x8xf32>
}

// Rank 2, not causal: one block of all 48 queries (fewer than 64); blocks
// of 64 keys, the last one 16 long (min(64, 80 - first), a size known at
// run time); no mask, no run-time check.
// FLASH-LABEL: func.func @flat(
// FLASH-NOT: modelc_shape_check_failed
// FLASH: tensor.expand_shape %arg0 {{\[}}[0, 1], [2]] output_shape [1, 48, 4]
// FLASH: scf.forall (%{{.*}}, %{{.*}}) in (1, 1)
// FLASH: tensor.extract_slice {{.*}} [1, 48, 4] [1, 1, 1] : tensor<1x48x4xf32> to tensor<48x4xf32>
// FLASH: scf.for %[[C0:.*]] = %c0{{.*}} to %c80{{.*}} step %c64{{.*}} iter_args({{.*}}) -> (tensor<48xf32>, tensor<48xf32>, tensor<48x4xf32>)
// FLASH: %[[LEFT:.*]] = arith.subi %c80{{.*}}, %[[C0]]
// FLASH: %[[KEYS:.*]] = arith.minui %c64{{.*}}, %[[LEFT]]
// FLASH: tensor.extract_slice {{.*}}[%{{.*}}, %[[C0]], 0] [1, %[[KEYS]], 4] [1, 1, 1] : tensor<1x80x4xf32> to tensor<?x4xf32>
// FLASH-NOT: linalg.index
// The values' block, the same keys:
// FLASH: tensor.extract_slice {{.*}}[%{{.*}}, %[[C0]], 0] [1, %[[KEYS]], 4] [1, 1, 1] : tensor<1x80x4xf32> to tensor<?x4xf32>
// FLASH: tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<1x48x4xf32> into tensor<48x4xf32>

// Whole: every query against every key, [1, 48, 80] scores, the standard
// softmax (max, exp, sum), p v and the division.
// WHOLE-LABEL: func.func @flat(
// WHOLE-NOT: scf.for
// WHOLE: %[[KT:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<1x80x4xf32>) outs(%{{.*}} : tensor<1x4x80xf32>)
// WHOLE: %[[DOT:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.*}}, %[[KT]] : tensor<1x48x4xf32>, tensor<1x4x80xf32>) outs(%{{.*}} : tensor<1x48x80xf32>)
// WHOLE: %[[SC:.*]] = linalg.generic {{.*}} ins(%[[DOT]] : tensor<1x48x80xf32>)
// WHOLE: %[[MAX:.*]] = linalg.generic {{.*}} ins(%[[SC]] : tensor<1x48x80xf32>) outs(%{{.*}} : tensor<1x48xf32>)
// WHOLE: arith.maximumf
// WHOLE: %[[P:.*]] = linalg.generic {{.*}} ins(%[[SC]], %[[MAX]] : tensor<1x48x80xf32>, tensor<1x48xf32>)
// WHOLE: math.exp
// WHOLE: %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[P]] : tensor<1x48x80xf32>) outs(%{{.*}} : tensor<1x48xf32>)
// WHOLE: arith.addf
// WHOLE: %[[PV:.*]] = linalg.generic {{.*}} ins(%[[P]], %{{.*}} : tensor<1x48x80xf32>, tensor<1x80x4xf32>) outs(%{{.*}} : tensor<1x48x4xf32>)
// WHOLE: linalg.generic {{.*}} ins(%[[PV]], %[[SUM]] : tensor<1x48x4xf32>, tensor<1x48xf32>)
// WHOLE: arith.divf
func.func @flat(%q: tensor<48x4xf32>, %k: tensor<80x4xf32>) -> tensor<48x4xf32> {
  %0 = mdl.attention %q, %k, %k {scale = 0.5 : f64} : (tensor<48x4xf32>, tensor<80x4xf32>, tensor<80x4xf32>) -> tensor<48x4xf32>
  return %0 : tensor<48x4xf32>
}

// Causal, 100 queries against 128 keys: blocks of 64, the last block of
// queries 36 long (a size known at run time, the running values' too); the
// keys go by whole blocks up to the one holding the block's last query's
// key (rounded up: the keys past it are masked), so their blocks stay static.
// FLASH-LABEL: func.func @ragged_causal(
// FLASH: scf.forall (%{{.*}}, %{{.*}}) in (1, 2)
// FLASH: %[[R0:.*]] = arith.muli %{{.*}}, %c64
// FLASH: %[[LEFTQ:.*]] = arith.subi %c100{{.*}}, %[[R0]]
// FLASH: %[[ROWS:.*]] = arith.minui %c64{{.*}}, %[[LEFTQ]]
// FLASH: %[[QB:.*]] = tensor.extract_slice {{.*}} [1, %[[ROWS]], 4] [1, 1, 1] : tensor<1x100x4xf32> to tensor<?x4xf32>
// FLASH: %[[SEEN:.*]] = arith.addi %[[R0]], %[[ROWS]]
// FLASH: %[[BLOCKS:.*]] = arith.ceildivui %[[SEEN]], %c64
// FLASH: %[[UP:.*]] = arith.muli %[[BLOCKS]], %c64
// FLASH: %[[END:.*]] = arith.minui %c128{{.*}}, %[[UP]]
// FLASH: linalg.fill {{.*}} -> tensor<?xf32>
// FLASH: linalg.fill {{.*}} -> tensor<?xf32>
// FLASH: linalg.fill {{.*}} -> tensor<?x4xf32>
// FLASH: scf.for %[[KC0:.*]] = %c0{{.*}} to %[[END]] step %c64{{.*}} -> (tensor<?xf32>, tensor<?xf32>, tensor<?x4xf32>)
// FLASH: tensor.extract_slice {{.*}}[%{{.*}}, %[[KC0]], 0] [1, 64, 4] [1, 1, 1] : tensor<1x128x4xf32> to tensor<64x4xf32>
// FLASH: tensor.parallel_insert_slice {{.*}} [1, %[[ROWS]], 4] [1, 1, 1] : tensor<?x4xf32> into tensor<1x100x4xf32>
func.func @ragged_causal(%q: tensor<100x4xf32>, %k: tensor<128x4xf32>) -> tensor<100x4xf32> {
  %0 = mdl.attention %q, %k, %k {is_causal, scale = 0.5 : f64} : (tensor<100x4xf32>, tensor<128x4xf32>, tensor<128x4xf32>) -> tensor<100x4xf32>
  return %0 : tensor<100x4xf32>
}
