// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-pads-in-place))" -mlir-print-local-scope | FileCheck %s
// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-pads-in-place), one-shot-bufferize{bufferize-function-boundaries}, canonicalize, cse, canonicalize)" -mlir-print-local-scope | FileCheck %s --check-prefix=BUF

// A pad of tile loops' result (BatchNorm + ReLU6 row by row) that write
// into a tensor.empty: the padded tensor is built before the loops, only
// its border filled (top and bottom rows whole, then the left and right
// columns of the rows between), and the loops write into its interior.
// CHECK-LABEL: func.func @pad_of_loops
// CHECK:         %[[P:.*]] = tensor.empty(%{{.*}}) : tensor<?x4x10x10xf32>
// CHECK:         %[[TOP:.*]] = tensor.extract_slice %[[P]][0, 0, 0, 0] [%{{.*}}, 4, 1, 10] [1, 1, 1, 1]
// CHECK:         linalg.fill ins(%{{.*}} : f32) outs(%[[TOP]] : tensor<?x4x1x10xf32>)
// CHECK:         tensor.insert_slice
// CHECK:         tensor.extract_slice %{{.*}}[0, 0, 9, 0] [%{{.*}}, 4, 1, 10] [1, 1, 1, 1]
// CHECK:         linalg.fill
// CHECK:         tensor.insert_slice
// CHECK:         tensor.extract_slice %{{.*}}[0, 0, 1, 0] [%{{.*}}, 4, 8, 1] [1, 1, 1, 1]
// CHECK:         linalg.fill
// CHECK:         tensor.insert_slice
// CHECK:         tensor.extract_slice %{{.*}}[0, 0, 1, 9] [%{{.*}}, 4, 8, 1] [1, 1, 1, 1]
// CHECK:         linalg.fill
// CHECK:         %[[BORDER:.*]] = tensor.insert_slice
// CHECK:         %[[INTERIOR:.*]] = tensor.extract_slice %[[BORDER]][0, 0, 1, 1] [%{{.*}}, 4, 8, 8] [1, 1, 1, 1]
// CHECK:         %[[R:.*]] = scf.forall {{.*}} shared_outs(%{{.*}} = %[[INTERIOR]])
// CHECK:         %[[PADDED:.*]] = tensor.insert_slice %[[R]] into %[[BORDER]][0, 0, 1, 1] [%{{.*}}, 4, 8, 8] [1, 1, 1, 1]
// CHECK-NOT:     tensor.pad
// CHECK:         return %[[PADDED]]
// Bufferized: one buffer, the border filled, no copy of the interior.
// BUF-LABEL: func.func @pad_of_loops
// BUF:         %[[B:.*]] = memref.alloc(%{{.*}}) {{.*}}: memref<?x4x10x10xf32>
// BUF-COUNT-4: linalg.fill
// BUF:         %[[IN:.*]] = memref.subview %[[B]][0, 0, 1, 1] [%{{.*}}, 4, 8, 8] [1, 1, 1, 1]
// BUF:         scf.forall
// BUF-NOT:     memref.copy
// BUF:         return %[[B]]
func.func @pad_of_loops(%x: tensor<?x4x8x8xf32>) -> tensor<?x4x10x10xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %x, %c0 : tensor<?x4x8x8xf32>
  %e = tensor.empty(%n) : tensor<?x4x8x8xf32>
  %r = scf.forall (%i, %h) in (%n, 8) shared_outs(%o = %e) -> (tensor<?x4x8x8xf32>) {
    %xs = tensor.extract_slice %x[%i, 0, %h, 0] [1, 4, 1, 8] [1, 1, 1, 1] : tensor<?x4x8x8xf32> to tensor<1x4x1x8xf32>
    %os = tensor.extract_slice %o[%i, 0, %h, 0] [1, 4, 1, 8] [1, 1, 1, 1] : tensor<?x4x8x8xf32> to tensor<1x4x1x8xf32>
    %t = linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
        ins(%xs : tensor<1x4x1x8xf32>) outs(%os : tensor<1x4x1x8xf32>) {
    ^bb0(%a: f32, %b: f32):
      %m = arith.maximumf %a, %zero : f32
      linalg.yield %m : f32
    } -> tensor<1x4x1x8xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %t into %o[%i, 0, %h, 0] [1, 4, 1, 8] [1, 1, 1, 1] : tensor<1x4x1x8xf32> into tensor<?x4x8x8xf32>
    }
  }
  %p = tensor.pad %r low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<?x4x8x8xf32> to tensor<?x4x10x10xf32>
  return %p : tensor<?x4x10x10xf32>
}

// A pad of an argument: the border filled (rows 0-1 and 4, then columns
// 0-2 and 6 of rows 2-3), the argument copied into the
// interior (nothing writes it there before).
// CHECK-LABEL: func.func @pad_of_argument
// CHECK:         %[[P:.*]] = tensor.empty() : tensor<1x3x5x7xf32>
// CHECK-COUNT-4: linalg.fill
// CHECK-NOT:     linalg.fill
// CHECK:         tensor.insert_slice %arg0 into %{{.*}}[0, 0, 2, 3] [1, 3, 2, 3] [1, 1, 1, 1]
// CHECK-NOT:     tensor.pad
func.func @pad_of_argument(%x: tensor<1x3x2x3xf32>) -> tensor<1x3x5x7xf32> {
  %v = arith.constant -1.0 : f32
  %p = tensor.pad %x low[0, 0, 2, 3] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %v : f32
  } : tensor<1x3x2x3xf32> to tensor<1x3x5x7xf32>
  return %p : tensor<1x3x5x7xf32>
}

// Padding of a dimension known only at run time, or by an amount known
// only at run time: left to bufferization as it was.
// CHECK-LABEL: func.func @left_alone
// CHECK-COUNT-2: tensor.pad
func.func @left_alone(%x: tensor<?x3xf32>, %k: index) -> (tensor<?x5xf32>, tensor<2x?xf32>) {
  %v = arith.constant 0.0 : f32
  %p = tensor.pad %x low[1, 1] high[0, 1] {
  ^bb0(%a: index, %b: index):
    tensor.yield %v : f32
  } : tensor<?x3xf32> to tensor<?x5xf32>
  %y = tensor.extract_slice %x[0, 0] [2, 3] [1, 1] : tensor<?x3xf32> to tensor<2x3xf32>
  %q = tensor.pad %y low[0, %k] high[0, 0] {
  ^bb0(%a: index, %b: index):
    tensor.yield %v : f32
  } : tensor<2x3xf32> to tensor<2x?xf32>
  return %p, %q : tensor<?x5xf32>, tensor<2x?xf32>
}
