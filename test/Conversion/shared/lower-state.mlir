// RUN: mdl-opt %s -split-input-file --pass-pipeline="builtin.module(mdl-lower-state)" | FileCheck %s

// Guards -mdl-lower-state (LowerState.cpp): each forward function of an
// mdl.model becomes a module-level @modelc_<name> that takes one memref per
// parameter and buffer, in state order (constants are compiled in), before
// its inputs: the runtime's calling convention (docs/ABI.md).

// CHECK-LABEL: func.func @modelc_forward_eval(
// CHECK-SAME:    %[[W:.*]]: memref<3x4xf32>, %[[MEAN:.*]]: memref<3xf32>, %[[STEPS:.*]]: memref<i64>, %[[B:.*]]: memref<3xf32>, %[[X:.*]]: tensor<2x4xf32>) -> tensor<2x3xf32>
// CHECK-SAME:    attributes {llvm.emit_c_interface, mdl.parameter_args = array<i64: 0, 3>}
// A parameter or a buffer this function does not write is read in place.
// CHECK-DAG:     %[[WT:.*]] = bufferization.to_tensor %[[W]] restrict : memref<3x4xf32> to tensor<3x4xf32>
// CHECK-DAG:     %[[BT:.*]] = bufferization.to_tensor %[[B]] restrict : memref<3xf32> to tensor<3xf32>
// CHECK-DAG:     %[[MT:.*]] = bufferization.to_tensor %[[MEAN]] restrict : memref<3xf32> to tensor<3xf32>
// A constant's values are drawn at compile time.
// CHECK-DAG:     %[[SCALE:.*]] = arith.constant dense<2.000000e+00> : tensor<3xf32>
// CHECK:         %[[Y:.*]] = mdl.linear %[[X]], %[[WT]], %[[BT]]
// CHECK:         %[[Z:.*]] = mdl.mul %[[Y]], %[[SCALE]]
// CHECK:         mdl.sub %[[Z]], %[[MT]]
// CHECK-NOT:     bufferization.alloc_tensor
// CHECK-NOT:     bufferization.materialize_in_destination
// CHECK:         return

// A buffer this function writes is copied when read, so that the old value
// stays valid; only its last value is stored, once, just before the return.
// CHECK-LABEL: func.func @modelc_forward_train(
// CHECK-SAME:    %{{.*}}: memref<3x4xf32>, %[[MEAN:.*]]: memref<3xf32>, %{{.*}}: memref<i64>, %{{.*}}: memref<3xf32>, %{{.*}}: tensor<2x4xf32>) -> tensor<3xf32>
// CHECK-SAME:    attributes {llvm.emit_c_interface, mdl.parameter_args = array<i64: 0, 3>}
// CHECK:         %[[READ:.*]] = bufferization.to_tensor %[[MEAN]] restrict : memref<3xf32> to tensor<3xf32>
// CHECK-NEXT:    %[[OLD:.*]] = bufferization.alloc_tensor() copy(%[[READ]]) : tensor<3xf32>
// CHECK:         %[[FIRST:.*]] = mdl.mul %[[OLD]], %{{.*}}
// CHECK-NEXT:    %[[LAST:.*]] = mdl.add %[[FIRST]], %[[OLD]]
// CHECK-NEXT:    bufferization.materialize_in_destination %[[LAST]] in restrict writable %[[MEAN]] : (tensor<3xf32>, memref<3xf32>) -> ()
// CHECK-NEXT:    return %[[OLD]] : tensor<3xf32>
// No size is known only at run time: no shape check to declare. The model
// itself is gone.
// CHECK-NOT:     modelc_shape_check_failed
// CHECK-NOT:     mdl.model
mdl.model @Net {
  mdl.param @fc.weight : tensor<3x4xf32> init "uniform"(-0.5, 0.5)
  mdl.buffer @bn.running_mean : tensor<3xf32> persistent init "full"(0.0)
  mdl.const @scale : tensor<3xf32> init "full"(2.0)
  mdl.buffer @steps : tensor<i64> non_persistent init "full"(0.0)
  mdl.param @fc.bias : tensor<3xf32> init "full"(0.0)
  func.func @forward_eval(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
    %w = mdl.read @fc.weight : tensor<3x4xf32>
    %b = mdl.read @fc.bias : tensor<3xf32>
    %s = mdl.read @scale : tensor<3xf32>
    %m = mdl.read @bn.running_mean : tensor<3xf32>
    %0 = mdl.linear %x, %w, %b : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    %1 = mdl.mul %0, %s : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    %2 = mdl.sub %1, %m : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    return %2 : tensor<2x3xf32>
  }
  func.func @forward_train(%x: tensor<2x4xf32>) -> tensor<3xf32> {
    %m = mdl.read @bn.running_mean : tensor<3xf32>
    %c = arith.constant dense<0.5> : tensor<f32>
    %0 = mdl.mul %m, %c : (tensor<3xf32>, tensor<f32>) -> tensor<3xf32>
    mdl.write %0 to @bn.running_mean : tensor<3xf32>
    %1 = mdl.add %0, %m : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    mdl.write %1 to @bn.running_mean : tensor<3xf32>
    return %m : tensor<3xf32>
  }
}

// -----

// An input size known only at run time may fail a check where it meets
// another size: the runtime's reporting function is declared, since the
// function passes that call it cannot add symbols.
// CHECK-LABEL: func.func @modelc_forward_eval(
// CHECK-SAME:    %{{.*}}: tensor<?x4xf32>)
// CHECK-SAME:    mdl.parameter_args = array<i64>
// CHECK:       func.func private @modelc_shape_check_failed(i64, i64, i64, i64, i64)
mdl.model @Dynamic {
  func.func @forward_eval(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
    return %x : tensor<?x4xf32>
  }
}

// -----

// A constant is drawn at compile time from a generator seeded by its name,
// straight into the storage format of its element type: floats rounded to
// nearest, integers truncated, i1 true where nonzero. The values are those
// drawn before issue 17 (an attribute per element): one source always
// compiles to the same values. A constant of one value is a splat, whatever
// its size.
// CHECK-LABEL: func.func @modelc_forward_eval()
// CHECK-DAG:     arith.constant dense<[1.83030069, 0.116078891, -1.81840539]> : tensor<3xf32>
// CHECK-DAG:     arith.constant dense<[0.54827343790273708, 0.53523070681093987, -0.57584033159370351]> : tensor<3xf64>
// CHECK-DAG:     arith.constant dense<[8.461910e-01, -1.546880e+00, 5.913090e-01]> : tensor<3xf16>
// CHECK-DAG:     arith.constant dense<[-9.726560e-01, 7.539060e-01, 1.562500e+00]> : tensor<3xbf16>
// CHECK-DAG:     arith.constant dense<[161, 114, -48]> : tensor<3xi32>
// CHECK-DAG:     arith.constant dense<[507, -513, 269]> : tensor<3xi64>
// CHECK-DAG:     arith.constant dense<true> : tensor<3xi1>
// CHECK-DAG:     arith.constant dense<1.500000e+00> : tensor<2x2xf32>
// CHECK-DAG:     arith.constant dense<1.000000e+00> : tensor<1000000xf32>
// Drawn once per model: every function reads the same values.
// CHECK-LABEL: func.func @modelc_forward_train()
// CHECK:         arith.constant dense<[1.83030069, 0.116078891, -1.81840539]> : tensor<3xf32>
mdl.model @Types {
  mdl.const @f32 : tensor<3xf32> init "normal"(0.0, 1.0)
  mdl.const @f64 : tensor<3xf64> init "normal"(0.0, 1.0)
  mdl.const @f16 : tensor<3xf16> init "uniform"(-2.0, 2.0)
  mdl.const @bf16 : tensor<3xbf16> init "uniform"(-2.0, 2.0)
  mdl.const @i32 : tensor<3xi32> init "normal"(0.0, 100.0)
  mdl.const @i64 : tensor<3xi64> init "uniform"(-1000.0, 1000.0)
  mdl.const @i1 : tensor<3xi1> init "normal"(0.0, 1.0)
  mdl.const @same : tensor<2x2xf32> init "uniform"(1.5, 1.5)
  mdl.const @ones : tensor<1000000xf32> init "full"(1.0)
  func.func @forward_eval() -> (tensor<3xf32>, tensor<3xf64>, tensor<3xf16>, tensor<3xbf16>, tensor<3xi32>, tensor<3xi64>, tensor<3xi1>, tensor<2x2xf32>, tensor<1000000xf32>) {
    %0 = mdl.read @f32 : tensor<3xf32>
    %1 = mdl.read @f64 : tensor<3xf64>
    %2 = mdl.read @f16 : tensor<3xf16>
    %3 = mdl.read @bf16 : tensor<3xbf16>
    %4 = mdl.read @i32 : tensor<3xi32>
    %5 = mdl.read @i64 : tensor<3xi64>
    %6 = mdl.read @i1 : tensor<3xi1>
    %7 = mdl.read @same : tensor<2x2xf32>
    %8 = mdl.read @ones : tensor<1000000xf32>
    return %0, %1, %2, %3, %4, %5, %6, %7, %8 : tensor<3xf32>, tensor<3xf64>, tensor<3xf16>, tensor<3xbf16>, tensor<3xi32>, tensor<3xi64>, tensor<3xi1>, tensor<2x2xf32>, tensor<1000000xf32>
  }
  func.func @forward_train() -> tensor<3xf32> {
    %0 = mdl.read @f32 : tensor<3xf32>
    return %0 : tensor<3xf32>
  }
}
