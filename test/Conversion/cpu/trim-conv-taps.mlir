// RUN: mdl-opt %s --mdl-trim-conv-taps -mlir-print-local-scope | FileCheck %s

// A 3x3 convolution padded by 1 on a 1x1 image reads the image with its
// centre tap only: it becomes a 1x1 convolution of the image itself, with
// the centre taps copied into a dense filter. (Filters that are not a
// parameter, as here, are copied in the call; a parameter's are a derived
// value, made once per state: test/e2e/train/ops_conv_small.test.)
// CHECK-LABEL: func.func @centre
// CHECK-SAME:    (%[[X:.*]]: tensor<?x8x1x1xf32>, %[[W:.*]]: tensor<16x8x3x3xf32>, %[[INIT:.*]]: tensor<?x16x1x1xf32>)
// CHECK:         %[[INTO:.*]] = tensor.empty() : tensor<16x8x1x1xf32>
// CHECK:         %[[KEPT:.*]] = tensor.extract_slice %[[W]][0, 0, 1, 1] [16, 8, 1, 1] [1, 1, 1, 1]
// CHECK:         %[[TAPS:.*]] = linalg.copy ins(%[[KEPT]] : tensor<16x8x1x1xf32>) outs(%[[INTO]] : tensor<16x8x1x1xf32>)
// CHECK-NOT:     tensor.pad
// CHECK:         linalg.conv_2d_nchw_fchw {{.*}} ins(%[[X]], %[[TAPS]] : tensor<?x8x1x1xf32>, tensor<16x8x1x1xf32>) outs(%[[INIT]] :

// Stride 2 on a 2x2 image: the one output reads it with the 2x2 corner
// of taps [1, 2] x [1, 2], and no padding.
// CHECK-LABEL: func.func @corner
// CHECK-SAME:    (%[[X:.*]]: tensor<2x8x2x2xf32>, %[[W:.*]]: tensor<16x8x3x3xf32>
// CHECK:         tensor.extract_slice %[[W]][0, 0, 1, 1] [16, 8, 2, 2] [1, 1, 1, 1]
// CHECK:         %[[TAPS:.*]] = linalg.copy
// CHECK-NOT:     tensor.pad
// CHECK:         linalg.conv_2d_nchw_fchw {{.*}}strides = dense<2>{{.*}} ins(%[[X]], %[[TAPS]] : tensor<2x8x2x2xf32>, tensor<16x8x2x2xf32>)

// Stride 2 on a 3x3 image: taps [1, 2] read rows and columns 0 and 1, a
// window of the image.
// CHECK-LABEL: func.func @window
// CHECK-SAME:    (%[[X:.*]]: tensor<2x8x3x3xf32>, %[[W:.*]]: tensor<16x8x3x3xf32>
// CHECK:         %[[TAPS:.*]] = linalg.copy
// CHECK:         %[[WIN:.*]] = tensor.extract_slice %[[X]][0, 0, 0, 0] [2, 8, 2, 2] [1, 1, 1, 1]
// CHECK-NOT:     tensor.pad
// CHECK:         linalg.conv_2d_nchw_fchw {{.*}} ins(%[[WIN]], %[[TAPS]] : tensor<2x8x2x2xf32>, tensor<16x8x2x2xf32>)

// A 1x3 image: only the middle row of taps reads it; the columns keep
// their padding.
// CHECK-LABEL: func.func @row
// CHECK-SAME:    (%[[X:.*]]: tensor<2x8x1x3xf32>, %[[W:.*]]: tensor<16x8x3x3xf32>
// CHECK:         tensor.extract_slice %[[W]][0, 0, 1, 0] [16, 8, 1, 3] [1, 1, 1, 1]
// CHECK:         %[[TAPS:.*]] = linalg.copy
// CHECK:         %[[P:.*]] = tensor.pad %[[X]] low[0, 0, 0, 1] high[0, 0, 0, 1]
// CHECK:         } : tensor<2x8x1x3xf32> to tensor<2x8x1x5xf32>
// CHECK:         linalg.conv_2d_nchw_fchw {{.*}} ins(%[[P]], %[[TAPS]] : tensor<2x8x1x5xf32>, tensor<16x8x1x3xf32>)

// Every tap reads the image at some output: left alone.
// CHECK-LABEL: func.func @every_tap
// CHECK-NOT:     linalg.copy
// CHECK:         linalg.conv_2d_nchw_fchw {{.*}} ins(%{{.*}}, %{{.*}} : tensor<2x8x6x6xf32>, tensor<16x8x3x3xf32>)

// Padding by a value other than zero: the padding's taps count. Left alone.
// CHECK-LABEL: func.func @padded_by_one
// CHECK-NOT:     linalg.copy
// CHECK:         linalg.conv_2d_nchw_fchw {{.*}} ins(%{{.*}}, %{{.*}} : tensor<2x8x3x3xf32>, tensor<16x8x3x3xf32>)

func.func @centre(%x: tensor<?x8x1x1xf32>, %w: tensor<16x8x3x3xf32>, %init: tensor<?x16x1x1xf32>) -> tensor<?x16x1x1xf32> {
  %zero = arith.constant 0.0 : f32
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<?x8x1x1xf32> to tensor<?x8x3x3xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%padded, %w : tensor<?x8x3x3xf32>, tensor<16x8x3x3xf32>) outs(%init : tensor<?x16x1x1xf32>) -> tensor<?x16x1x1xf32>
  return %y : tensor<?x16x1x1xf32>
}

func.func @corner(%x: tensor<2x8x2x2xf32>, %w: tensor<16x8x3x3xf32>, %init: tensor<2x16x1x1xf32>) -> tensor<2x16x1x1xf32> {
  %zero = arith.constant 0.0 : f32
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<2x8x2x2xf32> to tensor<2x8x4x4xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%padded, %w : tensor<2x8x4x4xf32>, tensor<16x8x3x3xf32>) outs(%init : tensor<2x16x1x1xf32>) -> tensor<2x16x1x1xf32>
  return %y : tensor<2x16x1x1xf32>
}

func.func @window(%x: tensor<2x8x3x3xf32>, %w: tensor<16x8x3x3xf32>, %init: tensor<2x16x1x1xf32>) -> tensor<2x16x1x1xf32> {
  %zero = arith.constant 0.0 : f32
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<2x8x3x3xf32> to tensor<2x8x5x5xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%padded, %w : tensor<2x8x5x5xf32>, tensor<16x8x3x3xf32>) outs(%init : tensor<2x16x1x1xf32>) -> tensor<2x16x1x1xf32>
  return %y : tensor<2x16x1x1xf32>
}

func.func @row(%x: tensor<2x8x1x3xf32>, %w: tensor<16x8x3x3xf32>, %init: tensor<2x16x1x3xf32>) -> tensor<2x16x1x3xf32> {
  %zero = arith.constant 0.0 : f32
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<2x8x1x3xf32> to tensor<2x8x3x5xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%padded, %w : tensor<2x8x3x5xf32>, tensor<16x8x3x3xf32>) outs(%init : tensor<2x16x1x3xf32>) -> tensor<2x16x1x3xf32>
  return %y : tensor<2x16x1x3xf32>
}

func.func @every_tap(%x: tensor<2x8x4x4xf32>, %w: tensor<16x8x3x3xf32>, %init: tensor<2x16x4x4xf32>) -> tensor<2x16x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<2x8x4x4xf32> to tensor<2x8x6x6xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%padded, %w : tensor<2x8x6x6xf32>, tensor<16x8x3x3xf32>) outs(%init : tensor<2x16x4x4xf32>) -> tensor<2x16x4x4xf32>
  return %y : tensor<2x16x4x4xf32>
}

func.func @padded_by_one(%x: tensor<2x8x1x1xf32>, %w: tensor<16x8x3x3xf32>, %init: tensor<2x16x1x1xf32>) -> tensor<2x16x1x1xf32> {
  %one = arith.constant 1.0 : f32
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %one : f32
  } : tensor<2x8x1x1xf32> to tensor<2x8x3x3xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%padded, %w : tensor<2x8x3x3xf32>, tensor<16x8x3x3xf32>) outs(%init : tensor<2x16x1x1xf32>) -> tensor<2x16x1x1xf32>
  return %y : tensor<2x16x1x1xf32>
}
