// RUN: mdl-opt %s -split-input-file -verify-diagnostics

mdl.model @M {
  mdl.param @"linear1.weight" : tensor<2x3xf32> init "uniform"(-0.1, 0.1)
  func.func @forward_train(%x: tensor<2x3xf32>) {
    // expected-error @+1 {{'mdl.write' op cannot write to parameter 'linear1.weight': parameters are trained by the optimizer; only buffers can be assigned}}
    mdl.write %x to @"linear1.weight" : tensor<2x3xf32>
    return
  }
}

// -----

mdl.model @M {
  mdl.const @my_tensor : tensor<3xf32> init "full"(2.0)
  func.func @forward_train(%x: tensor<3xf32>) {
    // expected-error @+1 {{cannot write to constant 'my_tensor': constants are part of the compiled code; only buffers can be assigned}}
    mdl.write %x to @my_tensor : tensor<3xf32>
    return
  }
}

// -----

mdl.model @M {
  func.func @forward_eval() -> tensor<f32> {
    // expected-error @+1 {{'@x' does not name a state entry of model 'M'}}
    %0 = mdl.read @x : tensor<f32>
    return %0 : tensor<f32>
  }
}

// -----

mdl.model @M {
  func.func @forward_train(%v: tensor<f32>) {
    // expected-error @+1 {{'@x' does not name a state entry of model 'M'}}
    mdl.write %v to @x : tensor<f32>
    return
  }
}

// -----

// A function is a symbol, but not a state entry.
mdl.model @M {
  func.func @forward_eval() -> tensor<f32> {
    // expected-error @+1 {{'@forward_eval' does not name a state entry of model 'M'}}
    %0 = mdl.read @forward_eval : tensor<f32>
    return %0 : tensor<f32>
  }
}

// -----

func.func @outside() -> tensor<f32> {
  // expected-error @+1 {{must be nested in an 'mdl.model': state belongs to a model}}
  %0 = mdl.read @x : tensor<f32>
  return %0 : tensor<f32>
}

// -----

mdl.model @M {
  mdl.param @w : tensor<4xf32> init "full"(0.0)
  func.func @forward_eval() -> tensor<5xf32> {
    // expected-error @+1 {{result type 'tensor<5xf32>' does not match parameter 'w' of type 'tensor<4xf32>'}}
    %0 = mdl.read @w : tensor<5xf32>
    return %0 : tensor<5xf32>
  }
}

// -----

mdl.model @M {
  mdl.buffer @avg : tensor<4xf32> persistent init "full"(0.0)
  func.func @forward_train(%v: tensor<4xf64>) {
    // expected-error @+1 {{value of type 'tensor<4xf64>' does not match buffer 'avg' of type 'tensor<4xf32>'}}
    mdl.write %v to @avg : tensor<4xf64>
    return
  }
}

// -----

mdl.model @M {
  // expected-note @+1 {{see existing symbol definition here}}
  mdl.buffer @avg : tensor<4xf32> persistent init "full"(0.0)
  // expected-error @+1 {{redefinition of symbol named 'avg'}}
  mdl.param @avg : tensor<4xf32> init "full"(0.0)
}

// -----

mdl.model @M {
  // expected-error @+1 {{unknown initializer 'xavier'; expected 'full', 'uniform' or 'normal'}}
  mdl.param @w : tensor<4xf32> init "xavier"(1.0)
}

// -----

mdl.model @M {
  // expected-error @+1 {{initializer 'uniform' takes 2 arguments (low, high), got 1}}
  mdl.param @w : tensor<4xf32> init "uniform"(1.0)
}

// -----

mdl.model @M {
  // expected-error @+1 {{initializer 'full' takes 1 argument (value), got 0}}
  mdl.buffer @b : tensor<4xf32> persistent init "full"()
}

// -----

mdl.model @M {
  // expected-error @+1 {{initializer 'uniform' needs low <= high, got (1.000000e+00, 0.000000e+00)}}
  mdl.param @w : tensor<4xf32> init "uniform"(1.0, 0.0)
}

// -----

mdl.model @M {
  // expected-error @+1 {{declared type 'tensor<?x4xf32>' must be a statically shaped tensor: state is allocated when the model is created}}
  mdl.param @w : tensor<?x4xf32> init "full"(0.0)
}

// -----

mdl.model @M {
  // expected-error @+1 {{declared type 'f32' must be a statically shaped tensor}}
  mdl.const @c : f32 init "full"(0.0)
}

// -----

// A constant is compiled in as data: at most 2^22 elements each (issue 17:
// one line of f32[100000000] took minutes and gigabytes), 2^24 in all.
// Parameters and buffers, drawn when the model is created, have no limit.
mdl.model @M {
  mdl.const @at_limit : tensor<2048x2048xf32> init "normal"(0.0, 1.0)
  mdl.param @p : tensor<100000000xf32> init "normal"(0.0, 1.0)
  mdl.buffer @b : tensor<100000000xf32> persistent init "full"(0.0)
  // expected-error @+1 {{'mdl.const' op has 4194305 elements, more than the limit of 4194304 of modelc}}
  mdl.const @c : tensor<4194305xf32> init "full"(0.0)
}

// -----

mdl.model @M {
  // expected-error @+1 {{'mdl.const' op has more than 2^63 elements, more than the limit of 4194304 of modelc}}
  mdl.const @c : tensor<9223372036854775807x2xf32> init "full"(0.0)
}

// -----

mdl.model @M {
  mdl.const @a : tensor<4194304xf32> init "full"(0.0)
  mdl.const @b : tensor<4194304xf32> init "full"(0.0)
  mdl.const @c : tensor<4194304xf32> init "full"(0.0)
  mdl.const @d : tensor<4194304xf32> init "full"(0.0)
  // expected-error @+1 {{'mdl.const' op brings the model's constants to more than 16777216 elements in all, the limit of modelc}}
  mdl.const @e : tensor<1xi1> init "full"(0.0)
}

// -----

module {
  // expected-error @+1 {{'mdl.param' op expects parent op 'mdl.model'}}
  mdl.param @w : tensor<4xf32> init "full"(0.0)
}

// -----

mdl.model @M {
  // expected-error @+1 {{expected 'persistent' or 'non_persistent'}}
  mdl.buffer @b : tensor<4xf32> init "full"(0.0)
}

// -----

func.func @broadcast(%a: tensor<2x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'mdl.add' op The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1}}
  %0 = mdl.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @broadcast_result(%a: tensor<?x3xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{result type 'tensor<?x4xf32>' does not match the inferred shape [?, 3]}}
  %0 = mdl.mul %a, %b : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @mixed_elements(%a: tensor<3xf32>, %b: tensor<3xf64>) {
  // expected-error @+1 {{operands have different element types 'f32' and 'f64'; convert one with 'mdl.cast'}}
  %0 = mdl.sub %a, %b : (tensor<3xf32>, tensor<3xf64>) -> tensor<3xf32>
  return
}

// -----

func.func @result_element(%a: tensor<3xf32>) {
  // expected-error @+1 {{result element type 'f64' does not match the operand element type 'f32'}}
  %0 = mdl.add %a, %a : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf64>
  return
}

// -----

func.func @linear(%x: tensor<?x100xf32>, %w: tensor<200x99xf32>) {
  // expected-error @+1 {{'mdl.linear' op mat1 and mat2 shapes cannot be multiplied (?x100 and 99x200)}}
  %0 = mdl.linear %x, %w : (tensor<?x100xf32>, tensor<200x99xf32>) -> tensor<?x200xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<?x100xf32>, %w: tensor<200x100xf32>, %b: tensor<100xf32>) {
  // expected-error @+1 {{expected bias of shape [200] for weight of shape [200, 100], got bias of shape [100]}}
  %0 = mdl.linear %x, %w, %b : (tensor<?x100xf32>, tensor<200x100xf32>, tensor<100xf32>) -> tensor<?x200xf32>
  return
}

// -----

func.func @conv2d(%x: tensor<1x4x32x32xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{Given groups=1, weight of size [8, 3, 3, 3], expected input[1, 4, 32, 32] to have 3 channels, but got 4 channels instead}}
  %0 = mdl.conv2d %x, %w stride [1, 1] padding [1, 1] dilation [1, 1] groups 1 : (tensor<1x4x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<1x8x32x32xf32>
  return
}

// -----

func.func @conv2d_result(%x: tensor<?x3x32x32xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{result type 'tensor<?x8x32x32xf32>' does not match the inferred shape [?, 8, 30, 30]}}
  %0 = mdl.conv2d %x, %w stride [1, 1] padding [0, 0] dilation [1, 1] groups 1 : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x32x32xf32>
  return
}

// -----

func.func @conv2d_stride(%x: tensor<?x3x32x32xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{attribute 'stride' failed to satisfy constraint}}
  %0 = mdl.conv2d %x, %w stride [1] padding [0, 0] dilation [1, 1] groups 1 : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x30x30xf32>
  return
}

// -----

func.func @matmul(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+1 {{'mdl.matmul' op mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)}}
  %0 = mdl.matmul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<2x4x3xf32>, %b: tensor<5x3x6xf32>) {
  // expected-error @+1 {{The size of tensor a (2) must match the size of tensor b (5) at non-singleton dimension 0}}
  %0 = mdl.matmul %a, %b : (tensor<2x4x3xf32>, tensor<5x3x6xf32>) -> tensor<2x4x6xf32>
  return
}

// -----

func.func @matmul_scalar(%a: tensor<f32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{both arguments to matmul need to be at least 1D, but they are 0D and 1D}}
  %0 = mdl.matmul %a, %b : (tensor<f32>, tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @stats(%x: tensor<1x5xf32>) {
  // expected-error @+1 {{'mdl.batch_norm_stats' op expected more than 1 value per channel when training, got input of shape [1, 5]}}
  %m, %v, %u = mdl.batch_norm_stats %x : tensor<1x5xf32> -> (tensor<5xf32>, tensor<5xf32>, tensor<5xf32>)
  return
}

// -----

func.func @stats_channels(%x: tensor<?x5xf32>) {
  // expected-error @+1 {{result type 'tensor<4xf32>' does not match the inferred shape [5]}}
  %m, %v, %u = mdl.batch_norm_stats %x : tensor<?x5xf32> -> (tensor<5xf32>, tensor<5xf32>, tensor<4xf32>)
  return
}

// -----

func.func @batch_norm(%x: tensor<?x5xf32>, %m: tensor<5xf32>, %v: tensor<4xf32>) {
  // expected-error @+1 {{expected per-channel tensors of shape [5] for input of shape [?, 5], got [4]}}
  %0 = mdl.batch_norm %x, %m, %v eps 1.0e-05 : (tensor<?x5xf32>, tensor<5xf32>, tensor<4xf32>) -> tensor<?x5xf32>
  return
}

// -----

func.func @layer_norm(%x: tensor<2x16x32xf32>) {
  // expected-error @+1 {{Given normalized_shape=[64], expected input with shape [*, 64], but got input of size[2, 16, 32]}}
  %0 = mdl.layer_norm %x normalized_shape [64] eps 1.0e-05 : (tensor<2x16x32xf32>) -> tensor<2x16x32xf32>
  return
}

// -----

func.func @reshape(%x: tensor<2x5xf32>) {
  // expected-error @+1 {{'mdl.reshape' op shape '[3, 4]' is invalid for input of size 10}}
  %0 = mdl.reshape %x shape [3, 4] : tensor<2x5xf32> -> tensor<3x4xf32>
  return
}

// -----

func.func @reshape_infer(%x: tensor<2x5xf32>) {
  // expected-error @+1 {{shape '[-1, 3]' is invalid for input of size 10}}
  %0 = mdl.reshape %x shape [-1, 3] : tensor<2x5xf32> -> tensor<3x3xf32>
  return
}

// -----

func.func @reshape_two_inferred(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{only one dimension can be inferred}}
  %0 = mdl.reshape %x shape [-1, -1] : tensor<?x4xf32> -> tensor<?x?xf32>
  return
}

// -----

func.func @permute(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{repeated dim in permute}}
  %0 = mdl.permute %x dims [1, 1] : tensor<2x3xf32> -> tensor<3x3xf32>
  return
}

// -----

func.func @flatten(%x: tensor<2x3x4xf32>) {
  // expected-error @+1 {{flatten() has invalid args: start_dim cannot come after end_dim}}
  %0 = mdl.flatten %x start_dim 2 end_dim 1 : tensor<2x3x4xf32> -> tensor<24xf32>
  return
}

// -----

func.func @cat(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+1 {{Sizes of tensors must match except in dimension 1. Expected size 2 but got size 4 for tensor number 1 in the list}}
  %0 = mdl.cat %a, %b dim 1 : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @reduce(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{Dimension out of range (expected to be in range of [-2, 1], but got 2)}}
  %0 = mdl.sum %x dims [2] keepdim false : tensor<2x3xf32> -> tensor<2xf32>
  return
}

// -----

func.func @softmax(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{Dimension out of range (expected to be in range of [-2, 1], but got -3)}}
  %0 = mdl.softmax %x dim -3 : tensor<2x3xf32>
  return
}

// -----

func.func @pool(%x: tensor<?x8x4x4xf32>) {
  // expected-error @+1 {{pad should be at most half of effective kernel size, but got pad=2, kernel_size=2 and dilation=1}}
  %0 = mdl.max_pool2d %x kernel_size [2, 2] stride [2, 2] padding [2, 2] : tensor<?x8x4x4xf32> -> tensor<?x8x4x4xf32>
  return
}

// -----

func.func @embedding(%i: tensor<?xi64>, %w: tensor<10x4xf32>) {
  // expected-error @+1 {{result element type 'i64' does not match the operand element type 'f32'}}
  %0 = mdl.embedding %i, %w : (tensor<?xi64>, tensor<10x4xf32>) -> tensor<?x4xi64>
  return
}

// -----

func.func @gelu(%x: tensor<3xf32>) {
  // expected-error @+1 {{approximate must be "none" or "tanh", got "erf"}}
  %0 = mdl.gelu %x approximate "erf" : tensor<3xf32>
  return
}

// -----

func.func @clamp(%x: tensor<3xf32>) {
  // expected-error @+1 {{at least one of 'min' or 'max' must be given}}
  %0 = mdl.clamp %x : tensor<3xf32>
  return
}

// -----

func.func @dropout(%x: tensor<3xf32>) {
  // expected-error @+1 {{dropout probability has to be between 0 and 1, but got 1.500000e+00}}
  %0 = mdl.dropout %x p 1.5 : tensor<3xf32>
  return
}

// -----

func.func @element_type(%x: tensor<3xi8>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of}}
  %0 = mdl.relu %x : tensor<3xi8>
  return
}

// -----

func.func @compare_predicate(%x: tensor<3xf32>) {
  // expected-error @+1 {{predicate must be one of eq, ne, lt, le, gt, ge, got "lte"}}
  %0 = mdl.compare %x, %x predicate "lte" : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xi1>
  return
}

// -----

func.func @compare_result(%x: tensor<3xf32>) {
  // expected-error @+1 {{result element type 'f32' does not match the operand element type 'i1'}}
  %0 = mdl.compare %x, %x predicate "lt" : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @where_condition(%c: tensor<3xf32>, %x: tensor<3xf32>) {
  // expected-error @+1 {{condition must be a tensor of i1, got 'tensor<3xf32>'}}
  %0 = mdl.where %c, %x, %x : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @where_shape(%c: tensor<4xi1>, %x: tensor<3xf32>) {
  // expected-error @+1 {{'mdl.where' op}}
  %0 = mdl.where %c, %x, %x : (tensor<4xi1>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @attention_batch(%q: tensor<2x16x8xf32>, %k: tensor<3x16x8xf32>) {
  // expected-error @+1 {{attention's batch dimensions must be equal}}
  %0 = mdl.attention %q, %k, %k {scale = 1.0 : f64} : (tensor<2x16x8xf32>, tensor<3x16x8xf32>, tensor<3x16x8xf32>) -> tensor<2x16x8xf32>
  return
}

// -----

func.func @attention_width(%q: tensor<16x8xf32>, %k: tensor<16x4xf32>) {
  // expected-error @+1 {{attention's query and key must have the same last size}}
  %0 = mdl.attention %q, %k, %k {scale = 1.0 : f64} : (tensor<16x8xf32>, tensor<16x4xf32>, tensor<16x4xf32>) -> tensor<16x4xf32>
  return
}

// -----

func.func @attention_result(%q: tensor<16x8xf32>, %k: tensor<12x8xf32>, %v: tensor<12x5xf32>) {
  // expected-error @+1 {{result type 'tensor<16x8xf32>' does not match the inferred shape [16, 5]}}
  %0 = mdl.attention %q, %k, %v {scale = 1.0 : f64} : (tensor<16x8xf32>, tensor<12x8xf32>, tensor<12x5xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @attention_dynamic_length(%q: tensor<?x8xf32>, %k: tensor<16x8xf32>) {
  // expected-error @+1 {{needs static sequence lengths and widths, but got 'tensor<?x8xf32>'}}
  %0 = mdl.attention %q, %k, %k {scale = 1.0 : f64} : (tensor<?x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @attention_two_dynamic_batches(%q: tensor<?x?x16x8xf32>) {
  // expected-error @+1 {{takes at most one leading dimension known only at run time, but got 'tensor<?x?x16x8xf32>'}}
  %0 = mdl.attention %q, %q, %q {scale = 1.0 : f64} : (tensor<?x?x16x8xf32>, tensor<?x?x16x8xf32>, tensor<?x?x16x8xf32>) -> tensor<?x?x16x8xf32>
  return
}
