// RUN: mdl-opt %s --pass-pipeline="builtin.module(mdl-blocked-dot-kernels)" | FileCheck %s

// The kernels of the AVX-512 description (CpuTarget::forMachine for 512-bit
// vectors, as `modelc --cpu=x86-64-v4` records it): 16-lane vectors, the
// outer-product blocks 8 rows by 2 vectors (32 columns), packed panels of
// 32 columns; the dot kernel's lane sums add the halves first.
#x = affine_map<(n, m, k) -> (m, k)>
#w = affine_map<(n, m, k) -> (n, k)>
#y = affine_map<(n, m, k) -> (m, n)>
#wt = affine_map<(m, n, k) -> (k, n)>
#x2 = affine_map<(m, n, k) -> (m, k)>
#y2 = affine_map<(m, n, k) -> (m, n)>
module attributes {mdl.cpu_target = {vector_bits = 512 : i64, lanes = 16 : i64, outer_rows = 8 : i64,
                                     outer_vectors = 2 : i64, packed_panel_columns = 32 : i64}} {
  func.func @linear(%x: memref<?x100xf32>, %w: memref<200x100xf32>, %y: memref<?x200xf32>) {
    linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
        ins(%x, %w : memref<?x100xf32>, memref<200x100xf32>) outs(%y : memref<?x200xf32>) {
    ^bb0(%a: f32, %b: f32, %acc: f32):
      %p = arith.mulf %a, %b : f32
      %s = arith.addf %acc, %p : f32
      linalg.yield %s : f32
    }
    return
  }
  func.func @not_transposed(%x: memref<9x8xf32>, %w: memref<8x40xf32>, %y: memref<9x40xf32>) {
    linalg.generic {indexing_maps = [#x2, #wt, #y2], iterator_types = ["parallel", "parallel", "reduction"]}
        ins(%x, %w : memref<9x8xf32>, memref<8x40xf32>) outs(%y : memref<9x40xf32>) {
    ^bb0(%a: f32, %b: f32, %acc: f32):
      %p = arith.mulf %a, %b : f32
      %s = arith.addf %acc, %p : f32
      linalg.yield %s : f32
    }
    return
  }
}

// The dot kernel: 16 lanes a step (chunks of 64 steps a lane: 1024), the
// 12 accumulators' halves added, then the 8-lane pairwise sums.
// CHECK-LABEL: func.func private @modelc_blocked_dot(
// CHECK:         scf.for %{{.*}} step %c3
// CHECK:           scf.for %{{.*}} step %c4
// CHECK:             scf.for %{{.*}} step %c1024{{[_0-9]*}} iter_args(
// CHECK:               scf.for %{{.*}} step %c16{{[_0-9]*}} iter_args({{.*}}) -> (vector<16xf32>
// CHECK-COUNT-12:        vector.fma {{.*}} : vector<16xf32>
// CHECK:             vector.maskedload %arg1{{.*}} : memref<?x?xf32, strided<[?, 1], offset: ?>>, vector<16xi1>, vector<16xf32> into vector<16xf32>
// CHECK-COUNT-2:     vector.extract_strided_slice %{{.*}} {offsets = [{{0|8}}], sizes = [8], strides = [1]} : vector<16xf32> to vector<8xf32>
// CHECK:             arith.addf {{.*}} : vector<8xf32>
// CHECK:             vector.shuffle %{{.*}}, %{{.*}} [0, 2, 8, 10, 4, 6, 12, 14] : vector<8xf32>, vector<8xf32>

// The outer kernel: blocks of 8 rows by 2 vectors of 16 columns (16
// accumulators), B's columns 16 at a time.
// CHECK-LABEL: func.func private @modelc_blocked_outer(
// CHECK:         scf.for %{{.*}} step %c128
// CHECK:           scf.for %{{.*}} step %c32
// CHECK:             scf.for %{{.*}} step %c8
// CHECK:               scf.for %{{.*}} step %c64
// CHECK:                 scf.for %{{.*}} iter_args({{.*}}) -> (vector<16xf32>
// CHECK-COUNT-2:           vector.load %arg1[%{{.*}}, %{{.*}}] : memref<?x?xf32, strided<[?, 1], offset: ?>>, vector<16xf32>
// CHECK-COUNT-8:           vector.broadcast
// CHECK-COUNT-16:          vector.fma {{.*}} : vector<16xf32>
