// RUN: mdl-opt %s | mdl-opt | FileCheck %s
// RUN: mdl-opt %s -mlir-print-op-generic | mdl-opt | FileCheck %s

// Every mdl op round-trips through the custom and the generic form. State
// names are printed quoted only when they are not bare identifiers.

// CHECK-LABEL: mdl.model @TinyModel {
// CHECK-NEXT: mdl.param @linear1.weight : tensor<200x100xf32> init "uniform"(-1.000000e-01, 1.000000e-01)
// CHECK-NEXT: mdl.param @linear1.bias : tensor<200xf32> init "uniform"(-1.000000e-01, 1.000000e-01)
// CHECK-NEXT: mdl.buffer @bn.running_mean : tensor<200xf32> persistent init "full"(0.000000e+00)
// CHECK-NEXT: mdl.buffer @bn.running_var : tensor<200xf32> persistent init "full"(1.000000e+00)
// CHECK-NEXT: mdl.buffer @scratch : tensor<f32> non_persistent init "full"(0.000000e+00)
// CHECK-NEXT: mdl.const @my_tensor : tensor<3xf64> init "normal"(0.000000e+00, 2.000000e+00) {note = "kept"}
// CHECK-NEXT: mdl.param @"0.weight" : tensor<2x2xbf16> init "normal"(0.000000e+00, 1.000000e-02)
mdl.model @TinyModel {
  mdl.param @"linear1.weight" : tensor<200x100xf32> init "uniform"(-0.1, 0.1)
  mdl.param @"linear1.bias" : tensor<200xf32> init "uniform"(-0.1, 0.1)
  mdl.buffer @"bn.running_mean" : tensor<200xf32> persistent init "full"(0.0)
  mdl.buffer @"bn.running_var" : tensor<200xf32> persistent init "full"(1.0)
  mdl.buffer @scratch : tensor<f32> non_persistent init "full"(0.0)
  mdl.const @my_tensor : tensor<3xf64> init "normal"(0.0, 2.0) {note = "kept"}
  // Names that are not bare identifiers (nn.Sequential's) print quoted.
  mdl.param @"0.weight" : tensor<2x2xbf16> init "normal"(0.0, 0.01)

  // CHECK-LABEL: func.func @forward_eval
  // CHECK: %[[W:.*]] = mdl.read @linear1.weight : tensor<200x100xf32>
  // CHECK: %[[B:.*]] = mdl.read @linear1.bias : tensor<200xf32>
  // CHECK: %[[L:.*]] = mdl.linear %{{.*}}, %[[W]], %[[B]] : (tensor<?x100xf32>, tensor<200x100xf32>, tensor<200xf32>) -> tensor<?x200xf32>
  // CHECK: mdl.linear %{{.*}}, %[[W]] : (tensor<?x100xf32>, tensor<200x100xf32>) -> tensor<?x200xf32>
  // CHECK: mdl.batch_norm %[[L]], %{{.*}}, %{{.*}} eps 1.000000e-05 : (tensor<?x200xf32>, tensor<200xf32>, tensor<200xf32>) -> tensor<?x200xf32>
  // CHECK: mdl.relu %{{.*}} : tensor<?x200xf32>
  func.func @forward_eval(%x: tensor<?x100xf32>) -> tensor<?x200xf32> {
    %w = mdl.read @"linear1.weight" : tensor<200x100xf32>
    %b = mdl.read @"linear1.bias" : tensor<200xf32>
    %0 = mdl.linear %x, %w, %b : (tensor<?x100xf32>, tensor<200x100xf32>, tensor<200xf32>) -> tensor<?x200xf32>
    %1 = mdl.linear %x, %w : (tensor<?x100xf32>, tensor<200x100xf32>) -> tensor<?x200xf32>
    %m = mdl.read @"bn.running_mean" : tensor<200xf32>
    %v = mdl.read @"bn.running_var" : tensor<200xf32>
    %2 = mdl.batch_norm %0, %m, %v eps 1.0e-05 : (tensor<?x200xf32>, tensor<200xf32>, tensor<200xf32>) -> tensor<?x200xf32>
    %3 = mdl.relu %2 : tensor<?x200xf32>
    %4 = mdl.add %3, %1 : (tensor<?x200xf32>, tensor<?x200xf32>) -> tensor<?x200xf32>
    return %4 : tensor<?x200xf32>
  }

  // CHECK-LABEL: func.func @forward_train
  // CHECK: %[[MEAN:.*]], %[[VAR:.*]], %[[UVAR:.*]] = mdl.batch_norm_stats %{{.*}} : tensor<?x200xf32> -> (tensor<200xf32>, tensor<200xf32>, tensor<200xf32>)
  // CHECK: mdl.batch_norm %{{.*}}, %[[MEAN]], %[[VAR]] weight %{{.*}} bias %{{.*}} eps 1.000000e-05
  // CHECK: %[[C:.*]] = arith.constant dense<0.899999976> : tensor<f32>
  // CHECK: mdl.mul %[[C]], %{{.*}} : (tensor<f32>, tensor<200xf32>) -> tensor<200xf32>
  // CHECK: mdl.write %{{.*}} to @bn.running_mean : tensor<200xf32>
  // CHECK: mdl.dropout %{{.*}} p 5.000000e-01 : tensor<?x200xf32>
  func.func @forward_train(%x: tensor<?x200xf32>, %g: tensor<200xf32>, %beta: tensor<200xf32>) -> tensor<?x200xf32> {
    %mean, %var, %uvar = mdl.batch_norm_stats %x : tensor<?x200xf32> -> (tensor<200xf32>, tensor<200xf32>, tensor<200xf32>)
    %0 = mdl.batch_norm %x, %mean, %var weight %g bias %beta eps 1.0e-05 : (tensor<?x200xf32>, tensor<200xf32>, tensor<200xf32>, tensor<200xf32>, tensor<200xf32>) -> tensor<?x200xf32>
    %old = mdl.read @"bn.running_mean" : tensor<200xf32>
    %c = arith.constant dense<0.9> : tensor<f32>
    %1 = mdl.mul %c, %old : (tensor<f32>, tensor<200xf32>) -> tensor<200xf32>
    %2 = mdl.add %1, %mean : (tensor<200xf32>, tensor<200xf32>) -> tensor<200xf32>
    mdl.write %2 to @"bn.running_mean" : tensor<200xf32>
    %3 = mdl.dropout %0 p 0.5 : tensor<?x200xf32>
    return %3 : tensor<?x200xf32>
  }
}

// CHECK-LABEL: mdl.model @Empty {
// CHECK-NEXT: }
mdl.model @Empty {
}

// CHECK-LABEL: func.func @binary
func.func @binary(%a: tensor<?x5xf32>, %b: tensor<5xf32>, %s: tensor<f32>) {
  // CHECK: mdl.add %{{.*}}, %{{.*}} : (tensor<?x5xf32>, tensor<5xf32>) -> tensor<?x5xf32>
  %0 = mdl.add %a, %b : (tensor<?x5xf32>, tensor<5xf32>) -> tensor<?x5xf32>
  // CHECK: mdl.sub
  %1 = mdl.sub %a, %s : (tensor<?x5xf32>, tensor<f32>) -> tensor<?x5xf32>
  // CHECK: mdl.mul
  %2 = mdl.mul %b, %s : (tensor<5xf32>, tensor<f32>) -> tensor<5xf32>
  // CHECK: mdl.div
  %3 = mdl.div %a, %a : (tensor<?x5xf32>, tensor<?x5xf32>) -> tensor<?x5xf32>
  // CHECK: mdl.pow
  %4 = mdl.pow %a, %s : (tensor<?x5xf32>, tensor<f32>) -> tensor<?x5xf32>
  // CHECK: mdl.maximum
  %5 = mdl.maximum %b, %b : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
  // CHECK: mdl.minimum {{.*}} : (tensor<3x1xf32>, tensor<5xf32>) -> tensor<3x5xf32>
  %c = arith.constant dense<1.0> : tensor<3x1xf32>
  %6 = mdl.minimum %c, %b : (tensor<3x1xf32>, tensor<5xf32>) -> tensor<3x5xf32>
  // CHECK: mdl.compare {{.*}} predicate "lt" : (tensor<3x1xf32>, tensor<5xf32>) -> tensor<3x5xi1>
  %7 = mdl.compare %c, %b predicate "lt" : (tensor<3x1xf32>, tensor<5xf32>) -> tensor<3x5xi1>
  // CHECK: mdl.where {{.*}} : (tensor<3x5xi1>, tensor<5xf32>, tensor<f32>) -> tensor<3x5xf32>
  %8 = mdl.where %7, %b, %s : (tensor<3x5xi1>, tensor<5xf32>, tensor<f32>) -> tensor<3x5xf32>
  return
}

// CHECK-LABEL: func.func @unary
func.func @unary(%x: tensor<?x5xf32>, %i: tensor<4xi64>) {
  // CHECK: mdl.relu %{{.*}} : tensor<?x5xf32>
  %0 = mdl.relu %x : tensor<?x5xf32>
  // CHECK: mdl.sigmoid
  %1 = mdl.sigmoid %x : tensor<?x5xf32>
  // CHECK: mdl.tanh
  %2 = mdl.tanh %x : tensor<?x5xf32>
  // CHECK: mdl.silu
  %3 = mdl.silu %x : tensor<?x5xf32>
  // CHECK: mdl.exp
  %4 = mdl.exp %x : tensor<?x5xf32>
  // CHECK: mdl.log
  %5 = mdl.log %x : tensor<?x5xf32>
  // CHECK: mdl.sqrt
  %6 = mdl.sqrt %x : tensor<?x5xf32>
  // CHECK: mdl.rsqrt
  %7 = mdl.rsqrt %x : tensor<?x5xf32>
  // CHECK: mdl.abs %{{.*}} : tensor<4xi64>
  %8 = mdl.abs %i : tensor<4xi64>
  // CHECK: mdl.neg
  %9 = mdl.neg %x : tensor<?x5xf32>
  // CHECK: mdl.gelu %{{.*}} approximate "tanh" : tensor<?x5xf32>
  %10 = mdl.gelu %x approximate "tanh" : tensor<?x5xf32>
  // CHECK: mdl.gelu %{{.*}} approximate "none" : tensor<?x5xf32>
  %11 = mdl.gelu %x approximate "none" : tensor<?x5xf32>
  // CHECK: mdl.leaky_relu %{{.*}} negative_slope 1.000000e-02 : tensor<?x5xf32>
  %12 = mdl.leaky_relu %x negative_slope 0.01 : tensor<?x5xf32>
  // CHECK: mdl.clamp %{{.*}} min 0.000000e+00 max 6.000000e+00 : tensor<?x5xf32>
  %13 = mdl.clamp %x min 0.0 max 6.0 : tensor<?x5xf32>
  // CHECK: mdl.clamp %{{.*}} max 1.000000e+00 : tensor<?x5xf32>
  %14 = mdl.clamp %x max 1.0 : tensor<?x5xf32>
  // CHECK: mdl.full_like %{{.*}} value 0.000000e+00 : tensor<?x5xf32>
  %15 = mdl.full_like %x value 0.0 : tensor<?x5xf32>
  // CHECK: mdl.cast %{{.*}} : tensor<4xi64> -> tensor<4xf32>
  %16 = mdl.cast %i : tensor<4xi64> -> tensor<4xf32>
  return
}

// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<?x8x128x64xf32>, %k: tensor<?x8x96x64xf32>, %v: tensor<?x8x96x32xf32>) {
  // CHECK: mdl.attention %{{.*}}, %{{.*}}, %{{.*}} {is_causal, scale = 1.250000e-01 : f64} : (tensor<?x8x128x64xf32>, tensor<?x8x96x64xf32>, tensor<?x8x96x32xf32>) -> tensor<?x8x128x32xf32>
  %0 = mdl.attention %q, %k, %v {is_causal, scale = 0.125 : f64} : (tensor<?x8x128x64xf32>, tensor<?x8x96x64xf32>, tensor<?x8x96x32xf32>) -> tensor<?x8x128x32xf32>
  return
}

// CHECK-LABEL: func.func @matmul
func.func @matmul(%a: tensor<8x?x16xf32>, %b: tensor<16x4xf32>, %v: tensor<16xf32>, %m: tensor<3x16xf32>) {
  // CHECK: mdl.matmul %{{.*}}, %{{.*}} : (tensor<8x?x16xf32>, tensor<16x4xf32>) -> tensor<8x?x4xf32>
  %0 = mdl.matmul %a, %b : (tensor<8x?x16xf32>, tensor<16x4xf32>) -> tensor<8x?x4xf32>
  // CHECK: -> tensor<f32>
  %1 = mdl.matmul %v, %v : (tensor<16xf32>, tensor<16xf32>) -> tensor<f32>
  // CHECK: -> tensor<4xf32>
  %2 = mdl.matmul %v, %b : (tensor<16xf32>, tensor<16x4xf32>) -> tensor<4xf32>
  // CHECK: -> tensor<3xf32>
  %3 = mdl.matmul %m, %v : (tensor<3x16xf32>, tensor<16xf32>) -> tensor<3xf32>
  // CHECK: -> tensor<8x?xf32>
  %4 = mdl.matmul %a, %v : (tensor<8x?x16xf32>, tensor<16xf32>) -> tensor<8x?xf32>
  return
}

// CHECK-LABEL: func.func @conv_pool
func.func @conv_pool(%x: tensor<?x3x32x32xf32>, %w: tensor<8x3x3x3xf32>, %b: tensor<8xf32>, %dw: tensor<8x1x3x3xf32>) {
  // CHECK: mdl.conv2d %{{.*}}, %{{.*}}, %{{.*}} stride [1, 1] padding [1, 1] dilation [1, 1] groups 1 : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) -> tensor<?x8x32x32xf32>
  %0 = mdl.conv2d %x, %w, %b stride [1, 1] padding [1, 1] dilation [1, 1] groups 1 : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) -> tensor<?x8x32x32xf32>
  // CHECK: mdl.conv2d %{{.*}}, %{{.*}} stride [2, 2] padding [0, 0] dilation [1, 1] groups 1 : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x15x15xf32>
  %1 = mdl.conv2d %x, %w stride [2, 2] padding [0, 0] dilation [1, 1] groups 1 : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x15x15xf32>
  // CHECK: groups 8
  %2 = mdl.conv2d %0, %dw stride [1, 1] padding [2, 2] dilation [2, 2] groups 8 : (tensor<?x8x32x32xf32>, tensor<8x1x3x3xf32>) -> tensor<?x8x32x32xf32>
  // CHECK: mdl.max_pool2d %{{.*}} kernel_size [2, 2] stride [2, 2] padding [0, 0] : tensor<?x8x32x32xf32> -> tensor<?x8x16x16xf32>
  %3 = mdl.max_pool2d %2 kernel_size [2, 2] stride [2, 2] padding [0, 0] : tensor<?x8x32x32xf32> -> tensor<?x8x16x16xf32>
  // CHECK: mdl.avg_pool2d %{{.*}} kernel_size [3, 3] stride [2, 2] padding [1, 1] count_include_pad false : tensor<?x8x16x16xf32> -> tensor<?x8x8x8xf32>
  %4 = mdl.avg_pool2d %3 kernel_size [3, 3] stride [2, 2] padding [1, 1] count_include_pad false : tensor<?x8x16x16xf32> -> tensor<?x8x8x8xf32>
  // CHECK: mdl.adaptive_avg_pool2d %{{.*}} output_size [1, 1] : tensor<?x8x8x8xf32> -> tensor<?x8x1x1xf32>
  %5 = mdl.adaptive_avg_pool2d %4 output_size [1, 1] : tensor<?x8x8x8xf32> -> tensor<?x8x1x1xf32>
  return
}

// CHECK-LABEL: func.func @softmax_reduce
func.func @softmax_reduce(%x: tensor<?x10xf32>) {
  // CHECK: mdl.softmax %{{.*}} dim 1 : tensor<?x10xf32>
  %0 = mdl.softmax %x dim 1 : tensor<?x10xf32>
  // CHECK: mdl.log_softmax %{{.*}} dim -1 : tensor<?x10xf32>
  %1 = mdl.log_softmax %x dim -1 : tensor<?x10xf32>
  // CHECK: mdl.mean %{{.*}} dims [1] keepdim false : tensor<?x10xf32> -> tensor<?xf32>
  %2 = mdl.mean %x dims [1] keepdim false : tensor<?x10xf32> -> tensor<?xf32>
  // CHECK: mdl.sum %{{.*}} dims [] keepdim false : tensor<?x10xf32> -> tensor<f32>
  %3 = mdl.sum %x dims [] keepdim false : tensor<?x10xf32> -> tensor<f32>
  // CHECK: mdl.amax %{{.*}} dims [-1] keepdim true : tensor<?x10xf32> -> tensor<?x1xf32>
  %4 = mdl.amax %x dims [-1] keepdim true : tensor<?x10xf32> -> tensor<?x1xf32>
  // CHECK: mdl.var %{{.*}} dims [0] unbiased true keepdim false : tensor<?x10xf32> -> tensor<10xf32>
  %5 = mdl.var %x dims [0] unbiased true keepdim false : tensor<?x10xf32> -> tensor<10xf32>
  return
}

// CHECK-LABEL: func.func @norms
func.func @norms(%x: tensor<?x16x64xf32>, %g: tensor<64xf32>, %b: tensor<64xf32>, %img: tensor<?x4x8x8xf32>) {
  // CHECK: mdl.layer_norm %{{.*}} weight %{{.*}} bias %{{.*}} normalized_shape [64] eps 1.000000e-05 : (tensor<?x16x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x16x64xf32>
  %0 = mdl.layer_norm %x weight %g bias %b normalized_shape [64] eps 1.0e-05 : (tensor<?x16x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x16x64xf32>
  // CHECK: mdl.layer_norm %{{.*}} normalized_shape [16, 64] eps 1.000000e-05 : (tensor<?x16x64xf32>) -> tensor<?x16x64xf32>
  %1 = mdl.layer_norm %x normalized_shape [16, 64] eps 1.0e-05 : (tensor<?x16x64xf32>) -> tensor<?x16x64xf32>
  // CHECK: mdl.batch_norm_stats %{{.*}} : tensor<?x4x8x8xf32> -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
  %m, %v, %u = mdl.batch_norm_stats %img : tensor<?x4x8x8xf32> -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
  // CHECK: mdl.batch_norm %{{.*}}, %{{.*}}, %{{.*}} bias %{{.*}} eps
  %2 = mdl.batch_norm %img, %m, %v bias %u eps 1.0e-05 : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
  return
}

// CHECK-LABEL: func.func @shapes
func.func @shapes(%x: tensor<?x4x4xf32>, %ids: tensor<?x16xi64>, %table: tensor<1000x64xf32>, %a: tensor<?x3xf32>, %b: tensor<?x5xf32>) {
  // CHECK: mdl.embedding %{{.*}}, %{{.*}} : (tensor<?x16xi64>, tensor<1000x64xf32>) -> tensor<?x16x64xf32>
  %0 = mdl.embedding %ids, %table : (tensor<?x16xi64>, tensor<1000x64xf32>) -> tensor<?x16x64xf32>
  // CHECK: mdl.reshape %{{.*}} shape [-1, 16] : tensor<?x4x4xf32> -> tensor<?x16xf32>
  %1 = mdl.reshape %x shape [-1, 16] : tensor<?x4x4xf32> -> tensor<?x16xf32>
  // CHECK: mdl.reshape %{{.*}} shape [4, -1] : tensor<1000x64xf32> -> tensor<4x16000xf32>
  %2 = mdl.reshape %table shape [4, -1] : tensor<1000x64xf32> -> tensor<4x16000xf32>
  // CHECK: mdl.flatten %{{.*}} start_dim 1 end_dim -1 : tensor<?x4x4xf32> -> tensor<?x16xf32>
  %3 = mdl.flatten %x start_dim 1 end_dim -1 : tensor<?x4x4xf32> -> tensor<?x16xf32>
  // CHECK: mdl.permute %{{.*}} dims [2, 0, 1] : tensor<?x4x4xf32> -> tensor<4x?x4xf32>
  %4 = mdl.permute %x dims [2, 0, 1] : tensor<?x4x4xf32> -> tensor<4x?x4xf32>
  // CHECK: mdl.cat %{{.*}}, %{{.*}} dim 1 : (tensor<?x3xf32>, tensor<?x5xf32>) -> tensor<?x8xf32>
  %5 = mdl.cat %a, %b dim 1 : (tensor<?x3xf32>, tensor<?x5xf32>) -> tensor<?x8xf32>
  // CHECK: mdl.cat %{{.*}}, %{{.*}} dim 0 : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
  %6 = mdl.cat %a, %a dim 0 : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
  return
}
