// RUN: mdl-opt %s -canonicalize -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @relu_relu
// CHECK-SAME: (%[[X:.*]]: tensor<?x5xf32>)
// CHECK-NEXT: %[[R:.*]] = mdl.relu %[[X]] : tensor<?x5xf32>
// CHECK-NEXT: return %[[R]]
func.func @relu_relu(%x: tensor<?x5xf32>) -> tensor<?x5xf32> {
  %0 = mdl.relu %x : tensor<?x5xf32>
  %1 = mdl.relu %0 : tensor<?x5xf32>
  %2 = mdl.relu %1 : tensor<?x5xf32>
  return %2 : tensor<?x5xf32>
}

// -----

// CHECK-LABEL: func.func @identity_permute
// CHECK-SAME: (%[[X:.*]]: tensor<?x4x5xf32>)
// CHECK-NEXT: return %[[X]]
func.func @identity_permute(%x: tensor<?x4x5xf32>) -> tensor<?x4x5xf32> {
  %0 = mdl.permute %x dims [0, 1, -1] : tensor<?x4x5xf32> -> tensor<?x4x5xf32>
  return %0 : tensor<?x4x5xf32>
}

// -----

// A transpose of a transpose is the identity.
// CHECK-LABEL: func.func @transpose_transpose
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK-NEXT: return %[[X]]
func.func @transpose_transpose(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = mdl.permute %x dims [1, 0] : tensor<?x4xf32> -> tensor<4x?xf32>
  %1 = mdl.permute %0 dims [1, 0] : tensor<4x?xf32> -> tensor<?x4xf32>
  return %1 : tensor<?x4xf32>
}

// -----

// Two permutes compose into one.
// CHECK-LABEL: func.func @compose_permutes
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>)
// CHECK-NEXT: %[[P:.*]] = mdl.permute %[[X]] dims [2, 0, 1] : tensor<2x3x4xf32> -> tensor<4x2x3xf32>
// CHECK-NEXT: return %[[P]]
func.func @compose_permutes(%x: tensor<2x3x4xf32>) -> tensor<4x2x3xf32> {
  %0 = mdl.permute %x dims [1, 2, 0] : tensor<2x3x4xf32> -> tensor<3x4x2xf32>
  %1 = mdl.permute %0 dims [1, 2, 0] : tensor<3x4x2xf32> -> tensor<4x2x3xf32>
  return %1 : tensor<4x2x3xf32>
}

// -----

// CHECK-LABEL: func.func @noop_reshape_flatten_cast
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>)
// CHECK-NEXT: return %[[X]]
func.func @noop_reshape_flatten_cast(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = mdl.reshape %x shape [-1, 16] : tensor<?x16xf32> -> tensor<?x16xf32>
  %1 = mdl.flatten %0 start_dim 1 end_dim 1 : tensor<?x16xf32> -> tensor<?x16xf32>
  %2 = mdl.cast %1 : tensor<?x16xf32> -> tensor<?x16xf32>
  return %2 : tensor<?x16xf32>
}

// -----

// With two dynamic sizes equal types do not imply the same shape: a
// [4, 16] tensor reshaped to [-1, 8] is [8, 8]. Must not fold.
// CHECK-LABEL: func.func @reshape_two_dynamic
// CHECK: mdl.reshape
func.func @reshape_two_dynamic(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %0 = mdl.reshape %x shape [-1, 8] : tensor<?x?xf32> -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// Reads are not merged across a write to the same state; the dropout is
// kept even when its result is unused (it draws random numbers).
// CHECK-LABEL: mdl.model @ReadWrite
// CHECK: func.func @forward_train
// CHECK: mdl.read @avg
// CHECK: mdl.write
// CHECK: mdl.read @avg
// CHECK: mdl.dropout
mdl.model @ReadWrite {
  mdl.buffer @avg : tensor<4xf32> persistent init "full"(0.0)
  func.func @forward_train(%x: tensor<4xf32>) -> tensor<4xf32> {
    %0 = mdl.read @avg : tensor<4xf32>
    %1 = mdl.add %0, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    mdl.write %1 to @avg : tensor<4xf32>
    %2 = mdl.read @avg : tensor<4xf32>
    %3 = mdl.dropout %x p 0.5 : tensor<4xf32>
    return %2 : tensor<4xf32>
  }
}
