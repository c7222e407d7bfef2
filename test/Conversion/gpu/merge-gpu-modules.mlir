// RUN: mdl-opt %s --pass-pipeline="builtin.module(gpu-kernel-outlining, mdl-merge-gpu-modules)" | FileCheck %s

// Outlining makes one gpu.module per launch, each kernel named after its
// function; merged, the second takes its module's unique name.
module {
  func.func @forward(%m: memref<16xf32>) {
    %c1 = arith.constant 1 : index
    %c16 = arith.constant 16 : index
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
      %v = memref.load %m[%tx] : memref<16xf32>
      %w = arith.addf %v, %v : f32
      memref.store %w, %m[%tx] : memref<16xf32>
      gpu.terminator
    }
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
      %v = memref.load %m[%tx] : memref<16xf32>
      %w = arith.mulf %v, %v : f32
      memref.store %w, %m[%tx] : memref<16xf32>
      gpu.terminator
    }
    return
  }
}
// CHECK-LABEL: func.func @forward
// CHECK:         gpu.launch_func @[[MOD:[a-z_0-9]+]]::@forward_kernel
// CHECK:         gpu.launch_func @[[MOD]]::@[[SECOND:[a-z_0-9]+]]
// CHECK:       gpu.module @[[MOD]]
// CHECK:         gpu.func @forward_kernel
// CHECK:           arith.addf
// CHECK:         gpu.func @[[SECOND]]
// CHECK:           arith.mulf
// CHECK-NOT:   gpu.module
