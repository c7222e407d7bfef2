// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-parallel-if-many-iterations))" | FileCheck %s
// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-parallel-if-many-iterations), canonicalize)" | FileCheck %s --check-prefix=FOLD

// Guards -mdl-parallel-if-many-iterations (ParallelIfManyIterations.cpp):
// an omp.parallel around a loop nest whose bounds are known before it gets
// if(trip count > 1), so that a single tile runs on the calling thread
// without waking the pool. The body stays one copy, in the region.

// The trip count is the product of ceil((ub - lb) / step) over the nest.
// CHECK-LABEL: func.func @nest
// CHECK-SAME:    (%{{.*}}: memref<?x?xf32>, %[[N:.*]]: index, %[[M:.*]]: index)
// CHECK-DAG:     %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG:     %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG:     %[[C4:.*]] = arith.constant 4 : index
// CHECK:         %[[SPAN0:.*]] = arith.subi %[[N]], %[[C0]] : index
// CHECK-NEXT:    %[[TRIPS0:.*]] = arith.ceildivui %[[SPAN0]], %[[C1]] : index
// CHECK-NEXT:    %[[TOTAL0:.*]] = arith.muli %{{.*}}, %[[TRIPS0]] : index
// CHECK-NEXT:    %[[SPAN1:.*]] = arith.subi %[[M]], %[[C1]] : index
// CHECK-NEXT:    %[[TRIPS1:.*]] = arith.ceildivui %[[SPAN1]], %[[C4]] : index
// CHECK-NEXT:    %[[TOTAL:.*]] = arith.muli %[[TOTAL0]], %[[TRIPS1]] : index
// CHECK-NEXT:    %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[MANY:.*]] = arith.cmpi ugt, %[[TOTAL]], %[[ONE]] : index
// CHECK-NEXT:    omp.parallel if(%[[MANY]]) {
// CHECK-NEXT:      omp.wsloop {
// CHECK-NEXT:        omp.loop_nest
// CHECK-NEXT:          memref.store
// CHECK-NOT:     memref.store
// CHECK-NOT:     scf.for
// CHECK:         return
func.func @nest(%buf: memref<?x?xf32>, %n: index, %m: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %z = arith.constant 0.0 : f32
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i, %j) : index = (%c0, %c1) to (%n, %m) step (%c1, %c4) {
        memref.store %z, %buf[%i, %j] : memref<?x?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  return
}

// Both sides of the threshold: one tile of 16 runs serially; two tiles,
// and one full tile and a partial one (17 rows), fork; so do 1 x 2 tiles
// of a nest, but not 1 x 1.
// FOLD-LABEL: func.func @threshold
// FOLD-DAG:     %[[TRUE:.*]] = arith.constant true
// FOLD-DAG:     %[[FALSE:.*]] = arith.constant false
// FOLD:         omp.parallel if(%[[FALSE]])
// FOLD:           omp.loop_nest ({{.*}}) : index = (%c0) to (%c16) step (%c16)
// FOLD:         omp.parallel if(%[[TRUE]])
// FOLD:           omp.loop_nest ({{.*}}) : index = (%c0) to (%c32) step (%c16)
// FOLD:         omp.parallel if(%[[TRUE]])
// FOLD:           omp.loop_nest ({{.*}}) : index = (%c0) to (%c17) step (%c16)
// FOLD:         omp.parallel if(%[[FALSE]])
// FOLD:           omp.loop_nest ({{.*}}) : index = (%c0, %c0) to (%c1, %c16) step (%c1, %c16)
// FOLD:         omp.parallel if(%[[TRUE]])
// FOLD:           omp.loop_nest ({{.*}}) : index = (%c0, %c0) to (%c1, %c32) step (%c1, %c16)
func.func @threshold(%buf: memref<?x?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %c17 = arith.constant 17 : index
  %c32 = arith.constant 32 : index
  %z = arith.constant 0.0 : f32
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%c16) step (%c16) {
        memref.store %z, %buf[%i, %c0] : memref<?x?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%c32) step (%c16) {
        memref.store %z, %buf[%i, %c0] : memref<?x?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%c17) step (%c16) {
        memref.store %z, %buf[%i, %c0] : memref<?x?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i, %j) : index = (%c0, %c0) to (%c1, %c16) step (%c1, %c16) {
        memref.store %z, %buf[%i, %j] : memref<?x?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i, %j) : index = (%c0, %c0) to (%c1, %c32) step (%c1, %c16) {
        memref.store %z, %buf[%i, %j] : memref<?x?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  return
}

// Left as they are: a region that already has an if, bounds computed
// inside the region (not known before it), an inclusive nest and bounds
// that are not index values.
// CHECK-LABEL: func.func @unchanged
// CHECK-NOT:     arith.cmpi
// CHECK:         omp.parallel if(%arg2) {
// CHECK-NOT:     arith.cmpi
// CHECK:         omp.parallel {
// CHECK-NEXT:      memref.dim
// CHECK-NOT:     arith.cmpi
// CHECK:         omp.parallel {
// CHECK:           omp.loop_nest {{.*}} inclusive
// CHECK-NOT:     arith.cmpi
// CHECK:         omp.parallel {
// CHECK:           omp.loop_nest ({{.*}}) : i32
// CHECK-NOT:     arith.cmpi
// CHECK:         return
func.func @unchanged(%buf: memref<?xf32>, %n: index, %cond: i1, %n32: i32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c0_i32 = arith.constant 0 : i32
  %c1_i32 = arith.constant 1 : i32
  %z = arith.constant 0.0 : f32
  omp.parallel if(%cond) {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        memref.store %z, %buf[%i] : memref<?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  omp.parallel {
    %size = memref.dim %buf, %c0 : memref<?xf32>
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%size) step (%c1) {
        memref.store %z, %buf[%i] : memref<?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) inclusive step (%c1) {
        memref.store %z, %buf[%i] : memref<?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : i32 = (%c0_i32) to (%n32) step (%c1_i32) {
        %j = arith.index_cast %i : i32 to index
        memref.store %z, %buf[%j] : memref<?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  return
}
