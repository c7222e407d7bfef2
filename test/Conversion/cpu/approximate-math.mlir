// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-approximate-math))" | FileCheck %s

// Guards -mdl-approximate-math (ApproximateMath.cpp): tanh, erf and exp on
// f32 become polynomial arithmetic (no call that would stop
// vectorization); log is left to LLVM.

// CHECK-LABEL: func.func @pieces
// CHECK-NOT: math.tanh
// CHECK-NOT: math.erf
// CHECK-NOT: math.exp
// CHECK: arith.mulf
// CHECK: math.log
func.func @pieces(%x: f32) -> (f32, f32, f32, f32) {
  %t = math.tanh %x : f32
  %e = math.erf %x : f32
  %p = math.exp %x : f32
  %l = math.log %x : f32
  return %t, %e, %p, %l : f32, f32, f32, f32
}
