// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(convert-mdl-to-linalg))" -split-input-file -verify-diagnostics

// Guards convert-mdl-to-linalg's last step (MdlToLinalg.cpp): an mdl op no
// pattern lowers is a diagnostic at that op and a failed pass, not an mdl
// op left for a later pass to crash on. Adaptive pooling needs its input's
// spatial sizes at compile time.

func.func @adaptive_pool_dynamic_sizes(%x: tensor<?x4x?x?xf32>) -> tensor<?x4x3x3xf32> {
  // expected-error @+1 {{'mdl.adaptive_avg_pool2d' op has no lowering to linalg in this version of modelc}}
  %0 = mdl.adaptive_avg_pool2d %x output_size [3, 3] : tensor<?x4x?x?xf32> -> tensor<?x4x3x3xf32>
  return %0 : tensor<?x4x3x3xf32>
}

// -----

// A dropout draws from the instance's random stream, which -mdl-lower-state
// adds: without it, the op says what is missing (and stays unlowered).
func.func @dropout_without_stream(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+2 {{'mdl.dropout' op needs the instance's random stream: an argument named by mdl.rng_arg (run -mdl-lower-state first)}}
  // expected-error @+1 {{'mdl.dropout' op has no lowering to linalg in this version of modelc}}
  %0 = mdl.dropout %x p 0.5 : tensor<4xf32>
  return %0 : tensor<4xf32>
}
