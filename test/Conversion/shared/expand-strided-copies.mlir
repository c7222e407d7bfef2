// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-expand-strided-copies))" | FileCheck %s
// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-expand-strided-copies{all-copies}))" | FileCheck %s --check-prefix=ALL

// Guards -mdl-expand-strided-copies (ExpandStridedCopies.cpp): a memref.copy
// from or into a strided view becomes a linalg.copy (loops later), because
// the LLVM lowering would call the C runner utilities' memrefCopy, which a
// self-contained model.so lacks. Contiguous copies stay memcpys, except with
// all-copies (CUDA: the host cannot memcpy device memory).

// Bufferization's copy into a padded tensor's interior.
// CHECK-LABEL: func.func @into_interior
// CHECK:         %[[VIEW:.*]] = memref.subview %arg1[0, 0, 1, 1] [2, 3, 4, 4] [1, 1, 1, 1]
// CHECK-NEXT:    linalg.copy ins(%arg0 : memref<2x3x4x4xf32>) outs(%[[VIEW]] : memref<2x3x4x4xf32, strided<[108, 36, 6, 1], offset: 7>>)
// CHECK-NOT:     memref.copy
// CHECK:         return
// ALL-LABEL:   func.func @into_interior
// ALL:           linalg.copy ins(%arg0 : memref<2x3x4x4xf32>) outs(%{{.*}} : memref<2x3x4x4xf32, strided<[108, 36, 6, 1], offset: 7>>)
func.func @into_interior(%src: memref<2x3x4x4xf32>, %dst: memref<2x3x6x6xf32>) {
  %view = memref.subview %dst[0, 0, 1, 1] [2, 3, 4, 4] [1, 1, 1, 1] : memref<2x3x6x6xf32> to memref<2x3x4x4xf32, strided<[108, 36, 6, 1], offset: 7>>
  memref.copy %src, %view : memref<2x3x4x4xf32> to memref<2x3x4x4xf32, strided<[108, 36, 6, 1], offset: 7>>
  return
}

// A strided source is expanded as well.
// CHECK-LABEL: func.func @from_rows_of_a_wider_matrix
// CHECK-NEXT:    linalg.copy ins(%arg0 : memref<4x8xf32, strided<[16, 1]>>) outs(%arg1 : memref<4x8xf32>)
// CHECK-NEXT:    return
func.func @from_rows_of_a_wider_matrix(%src: memref<4x8xf32, strided<[16, 1]>>, %dst: memref<4x8xf32>) {
  memref.copy %src, %dst : memref<4x8xf32, strided<[16, 1]>> to memref<4x8xf32>
  return
}

// Both sides contiguous: left for a memcpy, unless all-copies.
// CHECK-LABEL: func.func @contiguous
// CHECK-NEXT:    memref.copy %arg0, %arg1 : memref<4x8xf32> to memref<4x8xf32>
// CHECK-NEXT:    return
// ALL-LABEL:   func.func @contiguous
// ALL-NEXT:      linalg.copy ins(%arg0 : memref<4x8xf32>) outs(%arg1 : memref<4x8xf32>)
// ALL-NEXT:      return
func.func @contiguous(%src: memref<4x8xf32>, %dst: memref<4x8xf32>) {
  memref.copy %src, %dst : memref<4x8xf32> to memref<4x8xf32>
  return
}
