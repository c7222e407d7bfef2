// RUN: mdl-opt %s --pass-pipeline="builtin.module(mdl-blocked-dot-kernels)" | FileCheck %s

// Linear's x W^T on buffers (here in the (n, m, k) loop order the CPU
// pipeline gives it) becomes blocks of 4 rows of x by 3 rows of W with 12
// vector accumulators along k, then the edges in smaller blocks, the last
// k % 8 steps as one masked step.
#x = affine_map<(n, m, k) -> (m, k)>
#w = affine_map<(n, m, k) -> (n, k)>
#y = affine_map<(n, m, k) -> (m, n)>
func.func @linear(%x: memref<?x100xf32, strided<[100, 1], offset: ?>>, %w: memref<200x100xf32>,
                  %y: memref<?x200xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x100xf32, strided<[100, 1], offset: ?>>, memref<200x100xf32>)
      outs(%y : memref<?x200xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-LABEL: func.func @linear
// CHECK-NOT:     linalg.generic
// CHECK:         call @modelc_blocked_dot(
// x W with W as [K, N] (n contiguous in W and the result): the outer form,
// a vector of columns of W times a broadcast element of x.
#wt = affine_map<(m, n, k) -> (k, n)>
#x2 = affine_map<(m, n, k) -> (m, k)>
#y2 = affine_map<(m, n, k) -> (m, n)>
func.func @not_transposed(%x: memref<4x8xf32>, %w: memref<8x5xf32>, %y: memref<4x5xf32>) {
  linalg.generic {indexing_maps = [#x2, #wt, #y2], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<4x8xf32>, memref<8x5xf32>) outs(%y : memref<4x5xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-LABEL: func.func @not_transposed
// CHECK:         call @modelc_blocked_outer(

// Anything else is left alone: f64.
func.func @f64(%x: memref<4x8xf64>, %w: memref<5x8xf64>, %y: memref<4x5xf64>) {
  linalg.generic {indexing_maps = [#x2, affine_map<(m, n, k) -> (n, k)>, #y2], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<4x8xf64>, memref<5x8xf64>) outs(%y : memref<4x5xf64>) {
  ^bb0(%a: f64, %b: f64, %acc: f64):
    %p = arith.mulf %a, %b : f64
    %s = arith.addf %acc, %p : f64
    linalg.yield %s : f64
  }
  return
}
// CHECK-LABEL: func.func @f64
// CHECK:         linalg.generic

// A convolution's weights times its patches: one call per image.
#wb = affine_map<(b, m, p, k) -> (m, k)>
#pb = affine_map<(b, m, p, k) -> (b, p, k)>
#yb = affine_map<(b, m, p, k) -> (b, m, p)>
func.func @conv_gemm(%w: memref<16x27xf32>, %patches: memref<?x64x27xf32>, %y: memref<?x16x64xf32>) {
  linalg.generic {indexing_maps = [#wb, #pb, #yb], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%w, %patches : memref<16x27xf32>, memref<?x64x27xf32>) outs(%y : memref<?x16x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-LABEL: func.func @conv_gemm
// CHECK:         %[[IMAGES:.*]] = memref.dim %arg1, %c0
// CHECK:         scf.for %[[I:.*]] = %{{.*}} to %[[IMAGES]]
// CHECK:           %[[P:.*]] = memref.subview %arg1[%[[I]], 0, 0] [1, 64, 27] [1, 1, 1] : memref<?x64x27xf32> to memref<64x27xf32, strided<[27, 1], offset: ?>>
// CHECK:           %[[Y:.*]] = memref.subview %arg2[%[[I]], 0, 0] [1, 16, 64] [1, 1, 1]
// CHECK:           %[[W2:.*]] = memref.cast %arg0
// CHECK:           %[[P2:.*]] = memref.cast %[[P]]
// CHECK:           %[[Y2:.*]] = memref.cast %[[Y]]
// CHECK:           call @modelc_blocked_dot(%[[W2]], %[[P2]], %[[Y2]])

// The kernel, compiled once for all.
// CHECK-LABEL: func.func private @modelc_blocked_dot(%arg0: memref<?x?xf32, strided<[?, 1], offset: ?>>, %arg1: memref<?x?xf32, strided<[?, 1], offset: ?>>, %arg2: memref<?x?xf32, strided<[?, ?], offset: ?>>) attributes {passthrough = ["noinline"]}
// The full 4 x 3 block: 3 rows of W, then each row of x against them, K in
// chunks of 64 steps a lane (512) summed from zero, then added to the
// block's running sums (blocked summation).
// CHECK:         scf.for %[[N0:.*]] = %{{.*}} to %{{.*}} step %c3{{[_0-9]*}}
// CHECK:           scf.for %[[M0:.*]] = %{{.*}} to %{{.*}} step %c4{{[_0-9]*}}
// CHECK:             scf.for %[[K0:.*]] = %{{.*}} to %{{.*}} step %c512{{[_0-9]*}} iter_args(
// CHECK:               %[[K1:.*]] = arith.minui
// CHECK:               scf.for %[[K:.*]] = %[[K0]] to %[[K1]] step %c8{{[_0-9]*}} iter_args(%{{.*}} = %cst
// CHECK-COUNT-3:       vector.load %arg1[%{{.*}}, %[[K]]] : memref<?x?xf32, strided<[?, 1], offset: ?>>, vector<8xf32>
// CHECK:               vector.load %arg0[%{{.*}}, %[[K]]]
// CHECK-COUNT-3:       vector.fma
// CHECK:               vector.load %arg0
// CHECK-COUNT-3:       vector.fma
// CHECK:               vector.load %arg0
// CHECK-COUNT-3:       vector.fma
// CHECK:               vector.load %arg0
// CHECK-COUNT-3:       vector.fma
// CHECK-NEXT:          scf.yield
// CHECK-COUNT-12:      arith.addf %{{.*}} : vector<8xf32>
// CHECK-NEXT:          scf.yield
// The last K % 8 steps: one more step under a mask, then the reductions.
// CHECK-COUNT-3:     vector.maskedload %arg1
// CHECK:             vector.maskedload %arg0
// The 12 lane sums, four at a time: pairwise sums of pairwise sums, then
// the two halves added.
// CHECK:             vector.shuffle %{{.*}}, %{{.*}} [0, 2, 8, 10, 4, 6, 12, 14] : vector<8xf32>, vector<8xf32>
// CHECK:             vector.shuffle %{{.*}}, %{{.*}} [1, 3, 9, 11, 5, 7, 13, 15] : vector<8xf32>, vector<8xf32>
// CHECK:             vector.shuffle %{{.*}}, %{{.*}} [0, 1, 2, 3] : vector<8xf32>, vector<8xf32>
// CHECK:             vector.shuffle %{{.*}}, %{{.*}} [4, 5, 6, 7] : vector<8xf32>, vector<8xf32>
// CHECK:             %[[FOUR:.*]] = arith.addf %{{.*}}, %{{.*}} fastmath<reassoc,contract> : vector<4xf32>
// CHECK:             vector.extract %[[FOUR]][0]
// CHECK-NOT:         vector.reduction
// CHECK-COUNT-12:    memref.store
// The last rows of W against 4-row blocks of x.
// CHECK:         scf.for %{{.*}} step %c1{{[_0-9]*}}
// CHECK:           scf.for %{{.*}} step %c4{{[_0-9]*}}
// The last rows of x (all of them for a batch of 1), each against 8-row
// strips of W with 8 independent accumulators, then single rows of W.
// CHECK:         scf.for %{{.*}} step %c1{{[_0-9]*}}
// CHECK:           scf.for %{{.*}} step %c8{{[_0-9]*}}
// CHECK:             scf.for %{{.*}} step %c512{{[_0-9]*}} iter_args(
// CHECK:               scf.for %{{.*}} step %c8{{[_0-9]*}} iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK-COUNT-8:         vector.fma
// CHECK:           scf.for %{{.*}} step %c1{{[_0-9]*}}

// The outer kernel: 6 rows of x by 2 vectors of W's columns, the reduction
// in chunks of 128 (for L1), each summed in registers from zero 64 steps at
// a time and added into C's block (blocked summation).
// CHECK-LABEL: func.func private @modelc_blocked_outer(%arg0: memref<?x?xf32, strided<[?, ?], offset: ?>>, %arg1: memref<?x?xf32, strided<[?, 1], offset: ?>>, %arg2: memref<?x?xf32, strided<[?, 1], offset: ?>>)
// CHECK:         vector.create_mask
// CHECK:         scf.for %[[K0:.*]] = %{{.*}} to %{{.*}} step %c128
// CHECK:           scf.for %{{.*}} step %c16
// CHECK:             scf.for %{{.*}} step %c6
// CHECK:               scf.for %[[S0:.*]] = %{{.*}} to %{{.*}} step %c64
// CHECK:                 scf.for %[[K:.*]] = %[[S0]] to %{{.*}} step %c1{{[_0-9]*}} iter_args(%{{.*}} = %cst
// CHECK-COUNT-2:           vector.load %arg1[%[[K]], %{{.*}}]
// CHECK:                   memref.load %arg0
// CHECK-NEXT:              vector.broadcast
// CHECK-NEXT:              vector.fma
// CHECK-NEXT:              vector.fma
// CHECK:                 vector.load %arg2
// CHECK-NEXT:            arith.addf
// CHECK-NEXT:            vector.store %{{.*}}, %arg2
// CHECK:         vector.maskedload %arg1
