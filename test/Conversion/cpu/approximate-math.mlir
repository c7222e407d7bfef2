// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-approximate-math))" | FileCheck %s

// Guards -mdl-approximate-math (ApproximateMath.cpp): tanh and erf on f32
// become polynomial arithmetic (no call that would stop vectorization);
// exp is left to LLVM.

// CHECK-LABEL: func.func @gelu_pieces
// CHECK-NOT: math.tanh
// CHECK-NOT: math.erf
// CHECK: arith.mulf
// CHECK: math.exp
func.func @gelu_pieces(%x: f32) -> (f32, f32, f32) {
  %t = math.tanh %x : f32
  %e = math.erf %x : f32
  %p = math.exp %x : f32
  return %t, %e, %p : f32, f32, f32
}
