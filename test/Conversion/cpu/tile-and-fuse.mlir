// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-tile-and-fuse), canonicalize, cse)" -mlir-print-local-scope | FileCheck %s

// Guards -mdl-tile-and-fuse (TileAndFuse.cpp): the last op of each fusion
// group is tiled in an scf.forall along its parallel dimensions, and its
// producers used only by the group are computed tile by tile inside it.
// (Run as the CPU pipeline runs it, with canonicalize and cse after, which
// drop what tiling leaves dead.)

#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (n, k)>
#y = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
#row = affine_map<(d0, d1) -> (d0)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#channel = affine_map<(d0, d1, d2, d3) -> (d1)>

// Linear + bias + ReLU: blocks of 16 rows, whole along the columns. The
// bias accumulator and the contraction are computed per block, into a
// block-sized tensor; only the ReLU writes the loop's output.
// CHECK-LABEL: func.func @linear_relu
// CHECK-SAME:    (%[[X:.*]]: tensor<?x64xf32>, %[[W:.*]]: tensor<32x64xf32>, %[[B:.*]]: tensor<32xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %c0
// CHECK:         %[[OUT:.*]] = tensor.empty(%[[N]]) : tensor<?x32xf32>
// CHECK-NEXT:    %[[LOOP:.*]] = scf.forall (%[[I:.*]]) = (0) to (%[[N]]) step (16) shared_outs(%[[ACC_OUT:.*]] = %[[OUT]]) -> (tensor<?x32xf32>) {
// CHECK-NEXT:      %[[ROWS:.*]] = affine.min affine_map<(d0)[s0] -> (-d0 + s0, 16)>(%[[I]])[%[[N]]]
// CHECK-NEXT:      %[[XT:.*]] = tensor.extract_slice %[[X]][%[[I]], 0] [%[[ROWS]], 64] [1, 1]
// CHECK-NEXT:      %[[TILE:.*]] = tensor.empty(%[[ROWS]]) : tensor<?x32xf32>
// CHECK-NEXT:      %[[BIAS:.*]] = linalg.generic {{.*}} ins(%[[B]] : tensor<32xf32>) outs(%[[TILE]] : tensor<?x32xf32>)
// CHECK:           %[[MM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[XT]], %[[W]] : tensor<?x64xf32>, tensor<32x64xf32>) outs(%[[BIAS]] : tensor<?x32xf32>)
// CHECK:           %[[YT:.*]] = tensor.extract_slice %[[ACC_OUT]][%[[I]], 0] [%[[ROWS]], 32] [1, 1]
// CHECK-NEXT:      %[[RELU:.*]] = linalg.generic {{.*}} ins(%[[MM]] : tensor<?x32xf32>) outs(%[[YT]] : tensor<?x32xf32>)
// CHECK:             arith.maximumf
// CHECK:           scf.forall.in_parallel {
// CHECK-NEXT:        tensor.parallel_insert_slice %[[RELU]] into %[[ACC_OUT]][%[[I]], 0] [%[[ROWS]], 32] [1, 1]
// CHECK:         return %[[LOOP]]
// CHECK-NOT:     linalg.generic
func.func @linear_relu(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>) -> tensor<?x32xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x64xf32>
  %e = tensor.empty(%n) : tensor<?x32xf32>
  %acc = linalg.generic {indexing_maps = [#col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%b : tensor<32xf32>) outs(%e : tensor<?x32xf32>) {
  ^bb0(%v: f32, %o: f32):
    linalg.yield %v : f32
  } -> tensor<?x32xf32>
  %mm = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<?x64xf32>, tensor<32x64xf32>) outs(%acc : tensor<?x32xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %p = arith.mulf %a, %c : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  } -> tensor<?x32xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%mm : tensor<?x32xf32>) outs(%e : tensor<?x32xf32>) {
  ^bb0(%a: f32, %o: f32):
    %z = arith.constant 0.0 : f32
    %m = arith.maximumf %a, %z : f32
    linalg.yield %m : f32
  } -> tensor<?x32xf32>
  return %r : tensor<?x32xf32>
}

// Convolution + bias + ReLU: tiles of one image and one output row
// ([1, F, 1, OW]); the padding is not fused (it would be padded anew for
// every tile): each tile reads the 3 padded input rows it needs.
// CHECK-LABEL: func.func @conv_relu
// CHECK:         %[[PADDED:.*]] = tensor.pad %arg0
// CHECK:         %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK:         %[[OUT:.*]] = tensor.empty(%[[N]]) : tensor<?x4x8x8xf32>
// CHECK-NEXT:    %[[LOOP:.*]] = scf.forall (%[[IMG:.*]], %[[ROW:.*]]) in (%[[N]], 8) shared_outs(%[[ACC_OUT:.*]] = %[[OUT]]) -> (tensor<?x4x8x8xf32>) {
// CHECK-NEXT:      %[[XT:.*]] = tensor.extract_slice %[[PADDED]][%[[IMG]], 0, %[[ROW]], 0] [1, 3, 3, 10] [1, 1, 1, 1]
// CHECK-NEXT:      %[[TILE:.*]] = tensor.empty() : tensor<1x4x1x8xf32>
// CHECK-NEXT:      %[[BIAS:.*]] = linalg.generic {{.*}} ins(%arg2 : tensor<4xf32>) outs(%[[TILE]] : tensor<1x4x1x8xf32>)
// CHECK:           %[[CONV:.*]] = linalg.conv_2d_nchw_fchw {{.*}} ins(%[[XT]], %arg1 : tensor<1x3x3x10xf32>, tensor<4x3x3x3xf32>) outs(%[[BIAS]] : tensor<1x4x1x8xf32>)
// CHECK-NEXT:      %[[YT:.*]] = tensor.extract_slice %[[ACC_OUT]][%[[IMG]], 0, %[[ROW]], 0] [1, 4, 1, 8] [1, 1, 1, 1]
// CHECK-NEXT:      %[[RELU:.*]] = linalg.generic {{.*}} ins(%[[CONV]] : tensor<1x4x1x8xf32>) outs(%[[YT]] : tensor<1x4x1x8xf32>)
// CHECK:           tensor.parallel_insert_slice %[[RELU]] into %[[ACC_OUT]][%[[IMG]], 0, %[[ROW]], 0] [1, 4, 1, 8] [1, 1, 1, 1]
// CHECK:         return %[[LOOP]]
func.func @conv_relu(%x: tensor<?x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) -> tensor<?x4x8x8xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<?x3x8x8xf32> to tensor<?x3x10x10xf32>
  %n = tensor.dim %x, %c0 : tensor<?x3x8x8xf32>
  %e = tensor.empty(%n) : tensor<?x4x8x8xf32>
  %acc = linalg.generic {indexing_maps = [#channel, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%b : tensor<4xf32>) outs(%e : tensor<?x4x8x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    linalg.yield %v : f32
  } -> tensor<?x4x8x8xf32>
  %conv = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%p, %w : tensor<?x3x10x10xf32>, tensor<4x3x3x3xf32>) outs(%acc : tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %r = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%conv : tensor<?x4x8x8xf32>) outs(%e : tensor<?x4x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<?x4x8x8xf32>
  return %r : tensor<?x4x8x8xf32>
}

// A weight of 2 MiB (over 1 MiB): blocks of 64 columns, so that the weight
// streams from memory once in all; the contraction joins its ReLU, but the
// ReLU before it, whose whole rows each block needs, is computed once
// before the loop rather than once per block.
// CHECK-LABEL: func.func @large_weight
// CHECK:         %[[XR:.*]] = scf.forall ({{.*}}) = (0) to (%{{.*}}) step (16)
// CHECK:           arith.maximumf
// CHECK:         %[[LOOP:.*]] = scf.forall (%[[J:.*]]) = (0) to (512) step (64) shared_outs(%[[ACC_OUT:.*]] = %{{.*}}) -> (tensor<?x512xf32>) {
// CHECK-NEXT:      %[[XT:.*]] = tensor.extract_slice %[[XR]][0, 0] [%[[N:.*]], 1024] [1, 1]
// CHECK-NEXT:      %[[WT:.*]] = tensor.extract_slice %arg1[%[[J]], 0] [64, 1024] [1, 1] : tensor<512x1024xf32> to tensor<64x1024xf32>
// CHECK:           %[[MM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[XT]], %[[WT]] : tensor<?x1024xf32>, tensor<64x1024xf32>) outs(%{{.*}} : tensor<?x64xf32>)
// CHECK:           %[[YT:.*]] = tensor.extract_slice %[[ACC_OUT]][0, %[[J]]] [%[[N]], 64] [1, 1]
// CHECK-NEXT:      linalg.generic {{.*}} ins(%[[MM]] : tensor<?x64xf32>) outs(%[[YT]] : tensor<?x64xf32>)
// CHECK:         return %[[LOOP]]
func.func @large_weight(%x: tensor<?x1024xf32>, %w: tensor<512x1024xf32>) -> tensor<?x512xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %x, %c0 : tensor<?x1024xf32>
  %ex = tensor.empty(%n) : tensor<?x1024xf32>
  %xr = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x1024xf32>) outs(%ex : tensor<?x1024xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<?x1024xf32>
  %e = tensor.empty(%n) : tensor<?x512xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<?x512xf32>) -> tensor<?x512xf32>
  %mm = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%xr, %w : tensor<?x1024xf32>, tensor<512x1024xf32>) outs(%acc : tensor<?x512xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %p = arith.mulf %a, %c : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  } -> tensor<?x512xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%mm : tensor<?x512xf32>) outs(%e : tensor<?x512xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<?x512xf32>
  return %r : tensor<?x512xf32>
}

// An op carrying mdl.tile_sizes (-mdl-conv-to-gemm's) is tiled by them:
// one image and 16 output channels a tile.
// CHECK-LABEL: func.func @chosen_sizes
// CHECK:         %[[N:.*]] = tensor.dim %arg1, %c0
// CHECK-NEXT:    scf.forall (%[[IMG:.*]], %[[CH:.*]]) = (0, 0) to (%[[N]], 32) step (1, 16) shared_outs(%[[ACC_OUT:.*]] = %arg2)
// CHECK-NEXT:      %[[WT:.*]] = tensor.extract_slice %arg0[%[[CH]], 0] [16, 72] [1, 1]
// CHECK-NEXT:      %[[PT:.*]] = tensor.extract_slice %arg1[%[[IMG]], 0, 0] [1, 72, 64] [1, 1, 1]
// CHECK-NEXT:      %[[YT:.*]] = tensor.extract_slice %[[ACC_OUT]][%[[IMG]], %[[CH]], 0] [1, 16, 64] [1, 1, 1]
// CHECK-NEXT:      linalg.generic {{.*}} ins(%[[WT]], %[[PT]] : tensor<16x72xf32>, tensor<1x72x64xf32>) outs(%[[YT]] : tensor<1x16x64xf32>)
func.func @chosen_sizes(%a: tensor<32x72xf32>, %p: tensor<?x72x64xf32>, %acc: tensor<?x32x64xf32>) -> tensor<?x32x64xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %p : tensor<32x72xf32>, tensor<?x72x64xf32>) outs(%acc : tensor<?x32x64xf32>) attrs = {mdl.tile_sizes = array<i64: 1, 16, 0, 0>} {
  ^bb0(%u: f32, %v: f32, %o: f32):
    %m = arith.mulf %u, %v : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<?x32x64xf32>
  return %r : tensor<?x32x64xf32>
}

// A contraction that is its group's last op, its accumulator a zero fill:
// the fill joins the tile, just before the contraction reads it, and the
// loop's destination is the fill's (a whole-tensor fill before the loop
// was one pass over every accumulator, on one thread).
// CHECK-LABEL: func.func @fill_of_root
// CHECK-NOT:     linalg.fill
// CHECK:         %[[EMPTY:.*]] = tensor.empty
// CHECK-NOT:     linalg.fill
// CHECK:         scf.forall (%[[IMG:.*]], %[[CH:.*]]) = (0, 0) to (%{{.*}}, 32) step (1, 16) shared_outs(%[[ACC_OUT:.*]] = %[[EMPTY]])
// CHECK:           %[[YT:.*]] = tensor.extract_slice %[[ACC_OUT]][%[[IMG]], %[[CH]], 0] [1, 16, 64] [1, 1, 1]
// CHECK-NEXT:      %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[YT]] : tensor<1x16x64xf32>)
// CHECK-NEXT:      linalg.generic {{.*}} outs(%[[Z]] : tensor<1x16x64xf32>)
func.func @fill_of_root(%a: tensor<32x72xf32>, %p: tensor<?x72x64xf32>) -> tensor<?x32x64xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %p, %c0 : tensor<?x72x64xf32>
  %e = tensor.empty(%n) : tensor<?x32x64xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<?x32x64xf32>) -> tensor<?x32x64xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %p : tensor<32x72xf32>, tensor<?x72x64xf32>) outs(%acc : tensor<?x32x64xf32>) attrs = {mdl.tile_sizes = array<i64: 1, 16, 0, 0>} {
  ^bb0(%u: f32, %v: f32, %o: f32):
    %m = arith.mulf %u, %v : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<?x32x64xf32>
  return %r : tensor<?x32x64xf32>
}

// softmax's exponentials feed both its sum and its division: they are
// materialized by a loop of their own, not fused into both (computed twice
// a tile); the sum, used once, is fused into the division's tiles.
// CHECK-LABEL: func.func @used_twice
// CHECK:         %[[EXP:.*]] = scf.forall
// CHECK:           math.exp
// CHECK:         scf.forall
// CHECK-NOT:       math.exp
// CHECK:           %[[ET:.*]] = tensor.extract_slice %[[EXP]]
// CHECK-NOT:       math.exp
// CHECK:           %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%[[ET]] : tensor<?x10xf32>)
// CHECK-NOT:       math.exp
// CHECK:           linalg.generic {{.*}} ins(%[[ET]], %[[SUM]] : tensor<?x10xf32>, tensor<?xf32>)
// CHECK-NOT:       math.exp
// CHECK:             arith.divf
// CHECK-NOT:       math.exp
// CHECK:         return
func.func @used_twice(%x: tensor<?x10xf32>, %sum0: tensor<?xf32>) -> tensor<?x10xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x10xf32>
  %e = tensor.empty(%n) : tensor<?x10xf32>
  %ex = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x10xf32>) outs(%e : tensor<?x10xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = math.exp %a : f32
    linalg.yield %v : f32
  } -> tensor<?x10xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%ex : tensor<?x10xf32>) outs(%sum0 : tensor<?xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  } -> tensor<?xf32>
  %r = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%ex, %sum : tensor<?x10xf32>, tensor<?xf32>) outs(%e : tensor<?x10xf32>) {
  ^bb0(%a: f32, %s: f32, %o: f32):
    %d = arith.divf %a, %s : f32
    linalg.yield %d : f32
  } -> tensor<?x10xf32>
  return %r : tensor<?x10xf32>
}

// One parallel loop is already a single loop nest: not tiled.
// CHECK-LABEL: func.func @one_loop
// CHECK-NOT:     scf.forall
// CHECK:         linalg.generic
// CHECK:           math.exp
// CHECK-NOT:     scf.forall
// CHECK:         return
func.func @one_loop(%x: tensor<?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  %e = tensor.empty(%n) : tensor<?xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
      ins(%x : tensor<?xf32>) outs(%e : tensor<?xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = math.exp %a : f32
    linalg.yield %v : f32
  } -> tensor<?xf32>
  return %r : tensor<?xf32>
}
