// RUN: mdl-opt %s -cse | FileCheck %s

// Pure ops and reads with no write between them are merged; a write
// separates two reads of the state.

// CHECK-LABEL: mdl.model @M
// CHECK: func.func @forward_train
// CHECK-NEXT: %[[A:.*]] = mdl.read @avg
// CHECK-NEXT: %[[S:.*]] = mdl.add %[[A]], %[[A]]
// CHECK-NEXT: mdl.write %[[S]] to @avg
// CHECK-NEXT: %[[B:.*]] = mdl.read @avg
// CHECK-NEXT: return %[[B]]
mdl.model @M {
  mdl.buffer @avg : tensor<4xf32> persistent init "full"(0.0)
  func.func @forward_train() -> tensor<4xf32> {
    %0 = mdl.read @avg : tensor<4xf32>
    %1 = mdl.read @avg : tensor<4xf32>
    %2 = mdl.add %0, %1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %3 = mdl.add %0, %1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    mdl.write %3 to @avg : tensor<4xf32>
    %4 = mdl.read @avg : tensor<4xf32>
    return %4 : tensor<4xf32>
  }
}
