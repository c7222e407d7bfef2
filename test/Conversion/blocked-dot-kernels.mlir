// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-blocked-dot-kernels))" | FileCheck %s

// Linear's x W^T on buffers (here in the (n, m, k) loop order the CPU
// pipeline gives it) becomes blocks of 4 rows of x by 3 rows of W with 12
// vector accumulators along k, then the edges in smaller blocks, the last
// k % 8 steps scalar.
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
// The full 4 x 3 block: 3 rows of W, then each row of x against them.
// CHECK:         scf.for %[[N0:.*]] = %{{.*}} to %{{.*}} step %c3{{[_0-9]*}}
// CHECK:           scf.for %[[M0:.*]] = %{{.*}} to %{{.*}} step %c4{{[_0-9]*}}
// CHECK:             scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %c8{{[_0-9]*}} iter_args(
// CHECK-COUNT-3:       vector.load %arg1[%{{.*}}, %[[K]]] : memref<200x100xf32>, vector<8xf32>
// CHECK:               vector.load %arg0[%{{.*}}, %[[K]]]
// CHECK-COUNT-3:       vector.fma
// CHECK:               vector.load %arg0
// CHECK-COUNT-3:       vector.fma
// CHECK:               vector.load %arg0
// CHECK-COUNT-3:       vector.fma
// CHECK:               vector.load %arg0
// CHECK-COUNT-3:       vector.fma
// CHECK-NEXT:          scf.yield
// CHECK-COUNT-12:    vector.reduction <add>, %{{.*}} fastmath<reassoc,contract>
// CHECK:             scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c1{{[_0-9]*}} iter_args(
// CHECK-COUNT-12:    memref.store
// The edges: single rows of x, then single rows of W.
// CHECK:           scf.for %{{.*}} step %c1{{[_0-9]*}}
// CHECK:         scf.for %{{.*}} step %c1{{[_0-9]*}}
// CHECK:           scf.for %{{.*}} step %c4{{[_0-9]*}}
// CHECK:           scf.for %{{.*}} step %c1{{[_0-9]*}}

// Anything else is left alone: x W (k not contiguous in W).
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
// CHECK:         linalg.generic
