// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-map-to-gpu))" | FileCheck %s
// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-map-to-gpu, mdl-gpu-launch-to-loops))" | FileCheck %s --check-prefix=EMULATED

// Loops over device memory become kernels: the parallel loop one thread per
// element (linearized, last dimension fastest, guarded), the scalar update
// of a buffer one thread; the constant table is copied to the device and
// freed; the shape buffer of a reshape stays on the host.

memref.global "private" constant @table : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>

func.func @kernels(%x: memref<?x4xf32>, %count: memref<i64>) -> memref<?x4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %one = arith.constant 1 : i64
  %n = memref.dim %x, %c0 : memref<?x4xf32>
  %t = memref.get_global @table : memref<4xf32>
  %out = memref.alloc(%n) : memref<?x4xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c4) step (%c1, %c1) {
    %a = memref.load %x[%i, %j] : memref<?x4xf32>
    %b = memref.load %t[%j] : memref<4xf32>
    %s = arith.addf %a, %b : f32
    memref.store %s, %out[%i, %j] : memref<?x4xf32>
    scf.reduce
  }
  %old = memref.load %count[] : memref<i64>
  %new = arith.addi %old, %one : i64
  memref.store %new, %count[] : memref<i64>
  %shape = memref.alloc() : memref<2xindex>
  memref.store %n, %shape[%c0] : memref<2xindex>
  memref.dealloc %shape : memref<2xindex>
  return %out : memref<?x4xf32>
}

// CHECK-LABEL: func.func @kernels
// CHECK:         %[[N:.*]] = memref.dim %arg0
// CHECK:         %[[GLOBAL:.*]] = memref.get_global @table
// CHECK:         %[[TABLE:.*]] = gpu.alloc () : memref<4xf32>
// CHECK:         gpu.memcpy %[[TABLE]], %[[GLOBAL]]
// CHECK:         %[[OUT:.*]] = gpu.alloc (%[[N]]) : memref<?x4xf32>
// CHECK:         arith.muli
// CHECK-NEXT:    %[[TOTAL:.*]] = arith.muli %{{.*}}, %{{.*}} : index
// CHECK:         %[[BLOCKS:.*]] = arith.ceildivui %[[TOTAL]], %[[C256:[a-z0-9_]*]] : index
// CHECK:         %[[GRID:.*]] = arith.maxui %[[BLOCKS]]
// CHECK:         gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[GRID]], {{.*}} threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C256]],
// CHECK:           %[[ID0:.*]] = arith.muli %[[BX]], %[[C256]]
// CHECK:           %[[ID:.*]] = arith.addi %[[ID0]], %[[TX]]
// CHECK:           %[[IN:.*]] = arith.cmpi ult, %[[ID]], %[[TOTAL]]
// CHECK:           scf.if %[[IN]] {
// CHECK:             arith.remui %[[ID]]
// CHECK:             arith.divui %[[ID]]
// CHECK:             memref.load %[[TABLE]]
// CHECK:             memref.store %{{.*}}, %[[OUT]]
// CHECK:           gpu.terminator
// CHECK:         gpu.launch blocks({{.*}}) in (%{{.*}} = %[[ONE:.*]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) threads({{.*}}) in (%{{.*}} = %[[ONE]],
// CHECK-NEXT:      memref.load %arg1[] : memref<i64>
// CHECK-NEXT:      arith.addi
// CHECK-NEXT:      memref.store %{{.*}}, %arg1[] : memref<i64>
// CHECK-NEXT:      gpu.terminator
// CHECK:         %[[SHAPE:.*]] = memref.alloc() : memref<2xindex>
// CHECK-NEXT:    memref.store %[[N]], %[[SHAPE]]
// CHECK-NEXT:    memref.dealloc %[[SHAPE]]
// CHECK-NEXT:    gpu.dealloc %[[TABLE]]
// CHECK-NEXT:    return %[[OUT]]

// The emulation runs the same kernels as loops over blocks and threads.
// EMULATED-LABEL: func.func @kernels
// EMULATED-NOT:     gpu.
// EMULATED:         memref.copy
// EMULATED:         scf.for
// EMULATED-NEXT:      scf.for
// EMULATED-NEXT:        scf.for %[[BX:[a-z0-9]*]] =
// EMULATED-NEXT:          scf.for
// EMULATED-NEXT:            scf.for
// EMULATED-NEXT:              scf.for %[[TX:[a-z0-9]*]] = %{{.*}} to %c256
// EMULATED-NEXT:                arith.muli %[[BX]], %c256
// EMULATED-NEXT:                arith.addi %{{.*}}, %[[TX]]
// EMULATED-NOT:     gpu.
// EMULATED:         return

// The runtime's shape check (a reshape of a size known only at run time)
// is a host call on sizes: it stays on the host, with the if around it.
func.func private @modelc_shape_check_failed(i64, i64, i64, i64, i64)
func.func @shape_check(%x: memref<?x4xf32>) {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %line = arith.constant 3 : i64
  %one = arith.constant 1 : i64
  %n = memref.dim %x, %c0 : memref<?x4xf32>
  %rem = arith.remui %n, %c8 : index
  %bad = arith.cmpi ne, %rem, %c0 : index
  scf.if %bad {
    %count = arith.index_cast %n : index to i64
    func.call @modelc_shape_check_failed(%line, %line, %count, %one, %one) : (i64, i64, i64, i64, i64) -> ()
  }
  return
}
// CHECK-LABEL: func.func @shape_check
// CHECK-NOT:     gpu.launch
// CHECK:         scf.if
// CHECK-NEXT:      arith.index_cast
// CHECK-NEXT:      func.call @modelc_shape_check_failed
// CHECK-NOT:     gpu.launch
// CHECK:         return

// A check of the data (a class index out of range): the one-thread kernel
// that finds the index stores it to a device scalar, the host copies that to
// a host scalar and reads it, and the check's if and call stay on the host.
func.func @data_check(%y: memref<8xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %none = arith.constant -100 : i64
  %ten = arith.constant 10 : i64
  %line = arith.constant 3 : i64
  %kind = arith.constant 3 : i64
  %found = memref.alloc() : memref<i64>
  memref.store %none, %found[] : memref<i64>
  scf.for %i = %c0 to %c8 step %c1 {
    %v = memref.load %y[%i] : memref<8xi64>
    %big = arith.cmpi sge, %v, %ten : i64
    %old = memref.load %found[] : memref<i64>
    %new = arith.select %big, %v, %old : i64
    memref.store %new, %found[] : memref<i64>
  }
  %value = memref.load %found[] : memref<i64>
  memref.dealloc %found : memref<i64>
  %bad = arith.cmpi ne, %value, %none : i64
  scf.if %bad {
    func.call @modelc_shape_check_failed(%line, %line, %value, %ten, %kind) : (i64, i64, i64, i64, i64) -> ()
  }
  return
}
// CHECK-LABEL: func.func @data_check
// CHECK:         %[[FOUND:.*]] = gpu.alloc () : memref<i64>
// CHECK:         %[[DEV:.*]] = gpu.alloc () : memref<i64>
// CHECK:         gpu.launch
// CHECK:           scf.for
// CHECK:             memref.store
// CHECK-NEXT:      }
// CHECK-NEXT:      %[[V:.*]] = memref.load %[[FOUND]][] : memref<i64>
// CHECK-NEXT:      memref.store %[[V]], %[[DEV]][] : memref<i64>
// CHECK-NEXT:      gpu.terminator
// CHECK:         %[[HOST:.*]] = memref.alloc() : memref<i64>
// CHECK-NEXT:    gpu.memcpy %[[HOST]], %[[DEV]]
// CHECK-NEXT:    gpu.dealloc %[[DEV]]
// CHECK-NEXT:    %[[READ:.*]] = memref.load %[[HOST]][] : memref<i64>
// CHECK-NEXT:    memref.dealloc %[[HOST]]
// CHECK:         %[[BAD:.*]] = arith.cmpi ne, %[[READ]]
// CHECK:         scf.if %[[BAD]]
// CHECK-NEXT:      func.call @modelc_shape_check_failed(%{{.*}}, %{{.*}}, %[[READ]],
