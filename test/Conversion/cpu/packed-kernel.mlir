// RUN: mdl-opt %s --pass-pipeline="builtin.module(mdl-blocked-dot-kernels)" | FileCheck %s

// A contraction whose B is a window of a parameter that -mdl-pack-weights
// packed (the module's mdl.derived names the forward function's last
// argument as packed(state 0)): from the packed panels when A has 4 rows
// or more and the window starts on a panel, from W by the dot kernel
// otherwise.
#x = affine_map<(n, m, k) -> (m, k)>
#w = affine_map<(n, m, k) -> (n, k)>
#y = affine_map<(n, m, k) -> (m, n)>
module attributes {mdl.derived = [{kind = "packed", shape = array<i64: 3, 37, 16>, state = 0 : i64}]} {
  func.func @modelc_forward_eval(%w: memref<40x37xf32>, %x: memref<?x37xf32>, %y: memref<?x40xf32>,
                                 %n0: index, %p: memref<3x37x16xf32>)
      attributes {mdl.parameter_args = array<i64: 0>} {
    %c0 = arith.constant 0 : index
    %m = memref.dim %x, %c0 : memref<?x37xf32>
    %tile = memref.subview %w[%n0, 0] [24, 37] [1, 1] : memref<40x37xf32> to memref<24x37xf32, strided<[37, 1], offset: ?>>
    %out = memref.subview %y[0, %n0] [%m, 24] [1, 1] : memref<?x40xf32> to memref<?x24xf32, strided<[40, 1], offset: ?>>
    linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
        ins(%x, %tile : memref<?x37xf32>, memref<24x37xf32, strided<[37, 1], offset: ?>>)
        outs(%out : memref<?x24xf32, strided<[40, 1], offset: ?>>) {
    ^bb0(%a: f32, %b: f32, %acc: f32):
      %q = arith.mulf %a, %b : f32
      %s = arith.addf %acc, %q : f32
      linalg.yield %s : f32
    }
    return
  }

  // A parameter without a packed copy (state 1), and a C whose rows are not
  // contiguous (the packed kernel stores whole vectors of them): the dot
  // kernel, no choice.
  func.func @modelc_forward_train(%w: memref<40x37xf32>, %v: memref<40x37xf32>,
                                  %x: memref<?x37xf32>, %y: memref<?x40xf32>,
                                  %yt: memref<40x?xf32>, %n0: index, %p: memref<3x37x16xf32>)
      attributes {mdl.parameter_args = array<i64: 0, 1>} {
    linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
        ins(%x, %v : memref<?x37xf32>, memref<40x37xf32>) outs(%y : memref<?x40xf32>) {
    ^bb0(%a: f32, %b: f32, %acc: f32):
      %q = arith.mulf %a, %b : f32
      %s = arith.addf %acc, %q : f32
      linalg.yield %s : f32
    }
    %t = memref.transpose %yt (i, j) -> (j, i) : memref<40x?xf32> to memref<?x40xf32, strided<[1, ?]>>
    linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
        ins(%x, %w : memref<?x37xf32>, memref<40x37xf32>) outs(%t : memref<?x40xf32, strided<[1, ?]>>) {
    ^bb0(%a: f32, %b: f32, %acc: f32):
      %q = arith.mulf %a, %b : f32
      %s = arith.addf %acc, %q : f32
      linalg.yield %s : f32
    }
    return
  }
}
// CHECK-LABEL: func.func @modelc_forward_eval(
// CHECK-SAME:    %[[W:[^:]*]]: memref<40x37xf32>, %[[X:[^:]*]]: memref<?x37xf32>, %{{[^:]*}}: memref<?x40xf32>, %[[N0:[^:]*]]: index, %[[P:[^:]*]]: memref<3x37x16xf32>)
// CHECK:         %[[TILE:.*]] = memref.subview %[[W]][%[[N0]], 0] [24, 37]
// CHECK:         %[[OUT:.*]] = memref.subview
// CHECK-NOT:     linalg.generic
// CHECK:         %[[ROW:.*]] = arith.addi %{{.*}}, %[[N0]] : index
// CHECK:         %[[COL:.*]] = arith.addi
// CHECK:         %[[ROWS:.*]] = memref.dim %[[X]], %{{.*}}
// CHECK:         %[[ENOUGH:.*]] = arith.cmpi uge, %[[ROWS]], %{{.*}} : index
// CHECK:         %[[REM:.*]] = arith.remui %[[ROW]], %{{.*}} : index
// CHECK:         %[[ON:.*]] = arith.cmpi eq, %[[REM]], %{{.*}} : index
// CHECK:         %[[BOTH:.*]] = arith.andi %[[ENOUGH]], %[[ON]] : i1
// CHECK:         scf.if %[[BOTH]] {
// CHECK:           %[[FIRST:.*]] = arith.divui %[[ROW]], %{{.*}} : index
// CHECK:           %[[PANELS:.*]] = arith.ceildivui %{{.*}}, %{{.*}} : index
// CHECK:           %[[WIN:.*]] = memref.subview %[[P]][%[[FIRST]], %[[COL]], 0] [%[[PANELS]], %{{.*}}, 16] [1, 1, 1]
// CHECK:           %[[A:.*]] = memref.cast %[[X]]
// CHECK:           %[[PC:.*]] = memref.cast %[[WIN]] : {{.*}} to memref<?x?x16xf32, strided<[?, 16, 1], offset: ?>>
// CHECK:           %[[C:.*]] = memref.cast %[[OUT]]
// CHECK:           call @modelc_blocked_packed(%[[A]], %[[PC]], %[[C]])
// CHECK:         } else {
// CHECK:           call @modelc_blocked_dot(%{{.*}}, %{{.*}}, %{{.*}})
// CHECK:         }

// CHECK-LABEL: func.func @modelc_forward_train(
// CHECK-NOT:     scf.if
// CHECK:         call @modelc_blocked_dot(
// CHECK-NOT:     scf.if
// CHECK:         call @modelc_blocked_dot(
// CHECK-NOT:     modelc_blocked_packed
// CHECK:         return

// The kernel: per panel, blocks of 6 rows by 16 columns with 12
// accumulators, two unmasked vectors of the panel per k step times
// broadcast elements of A, summed from zero 64 steps at a time and added
// into C's block (blocked summation); the last partial panel stores under
// masks.
// CHECK-LABEL: func.func private @modelc_blocked_packed(
// CHECK-SAME:    %[[KA:[^:]*]]: memref<?x?xf32, strided<[?, 1], offset: ?>>, %[[KP:[^:]*]]: memref<?x?x16xf32, strided<[?, 16, 1], offset: ?>>, %[[KC:[^:]*]]: memref<?x?xf32, strided<[?, 1], offset: ?>>)
// CHECK:         scf.for
// CHECK:           scf.for
// CHECK:             scf.for {{.*}} step %c64
// CHECK:               scf.for {{.*}} iter_args(%{{.*}} = %cst
// CHECK:                 vector.load %[[KP]][%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x?x16xf32, strided<[?, 16, 1], offset: ?>>, vector<8xf32>
// CHECK:                 vector.load %[[KP]]
// CHECK-COUNT-6:         vector.broadcast
// CHECK-COUNT-12:        vector.fma
// CHECK:               vector.load %[[KC]]
// CHECK-NEXT:          arith.addf
// CHECK-NEXT:          vector.store
// The last N % 16 columns: 1 to 8 as one masked vector, 9 to 15 as a
// whole vector and a masked one.
// CHECK:         %[[LEFT:.*]] = arith.subi %[[N:.*]], %[[WHOLE:.*]] : index
// CHECK:         scf.if
// CHECK:           %[[ONE:.*]] = arith.cmpi ule, %[[LEFT]], %c8
// CHECK:           scf.if %[[ONE]] {
// CHECK:             vector.create_mask %[[LEFT]] : vector<8xi1>
// CHECK:             vector.maskedload %[[KC]]
// CHECK-NOT:         vector.load %[[KC]]
// CHECK:             vector.maskedstore %[[KC]]
// CHECK:           } else {
// CHECK:             %[[BEYOND:.*]] = arith.subi %[[LEFT]], %c8
// CHECK:             vector.create_mask %[[BEYOND]] : vector<8xi1>
// CHECK:             vector.load %[[KC]]
// CHECK:             vector.maskedload %[[KC]]
// CHECK:             vector.store
// CHECK:             vector.maskedstore %[[KC]]
// CHECK:           }
// CHECK:       func.func private @modelc_blocked_dot(
