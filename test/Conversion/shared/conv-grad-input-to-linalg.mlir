// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(convert-mdl-to-linalg))" -mlir-print-local-scope | FileCheck %s

// Guards conv2d_grad_input's lowering (GradientsToLinalg.cpp): only the
// unpadded rows and columns of the padded input's gradient are computed,
// from the window of the dilated, padded output gradient they read. (It
// computed the padded input's whole gradient and cut its border off: on
// CIFAR ResNet-18's 1x1 images 81 products per element of the result in
// place of 9, and the training step took 265 ms for 177.)

// Stride 1: the window is the gradient padded by (k - 1) - p, a
// convolution of a zero-padded image (-mdl-trim-conv-taps then keeps the
// centre tap here) straight into the [N, C, H, W] result.
// CHECK-LABEL: func.func @stride1
// CHECK-SAME:    (%[[G:.*]]: tensor<?x8x1x1xf32>, %[[W:.*]]: tensor<8x4x3x3xf32>)
// CHECK:         %[[P:.*]] = tensor.pad %[[G]] low[0, 0, 1, 1] high[0, 0, 1, 1]
// CHECK:         } : tensor<?x8x1x1xf32> to tensor<?x8x3x3xf32>
// CHECK:         %[[INIT:.*]] = linalg.fill {{.*}} -> tensor<?x4x1x1xf32>
// CHECK:         %[[FLIP:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<4x8x3x3xf32>)
// CHECK:         %[[DX:.*]] = linalg.conv_2d_nchw_fchw {{.*}} ins(%[[P]], %[[FLIP]] : tensor<?x8x3x3xf32>, tensor<4x8x3x3xf32>) outs(%[[INIT]] : tensor<?x4x1x1xf32>)
// CHECK-NEXT:    return %[[DX]]

// Stride 2: the gradient dilated (zeros between its elements) and padded
// by k - 1, then its window [p, p + H + k - 1) convolved into the result.
// CHECK-LABEL: func.func @stride2
// CHECK-SAME:    (%[[G:.*]]: tensor<2x8x2x2xf32>, %[[W:.*]]: tensor<8x4x3x3xf32>)
// CHECK:         %[[D:.*]] = tensor.insert_slice %[[G]] into %{{.*}}[0, 0, 2, 2] [2, 8, 2, 2] [1, 1, 2, 2] : tensor<2x8x2x2xf32> into tensor<2x8x8x8xf32>
// CHECK:         %[[WIN:.*]] = tensor.extract_slice %[[D]][0, 0, 1, 1] [2, 8, 6, 6] [1, 1, 1, 1]
// CHECK:         %[[INIT:.*]] = linalg.fill {{.*}} -> tensor<2x4x4x4xf32>
// CHECK:         %[[DX:.*]] = linalg.conv_2d_nchw_fchw {{.*}} ins(%[[WIN]], %{{.*}} : tensor<2x8x6x6xf32>, tensor<4x8x3x3xf32>) outs(%[[INIT]] : tensor<2x4x4x4xf32>)
// CHECK-NEXT:    return %[[DX]]

func.func @stride1(%g: tensor<?x8x1x1xf32>, %w: tensor<8x4x3x3xf32>) -> tensor<?x4x1x1xf32> {
  %0 = mdl.conv2d_grad_input %g, %w stride [1, 1] padding [1, 1] dilation [1, 1] groups 1 : (tensor<?x8x1x1xf32>, tensor<8x4x3x3xf32>) -> tensor<?x4x1x1xf32>
  return %0 : tensor<?x4x1x1xf32>
}
func.func @stride2(%g: tensor<2x8x2x2xf32>, %w: tensor<8x4x3x3xf32>) -> tensor<2x4x4x4xf32> {
  %0 = mdl.conv2d_grad_input %g, %w stride [2, 2] padding [1, 1] dilation [1, 1] groups 1 : (tensor<2x8x2x2xf32>, tensor<8x4x3x3xf32>) -> tensor<2x4x4x4xf32>
  return %0 : tensor<2x4x4x4xf32>
}
