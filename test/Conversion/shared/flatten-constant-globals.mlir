// RUN: mdl-opt %s --mdl-flatten-constant-globals | FileCheck %s

// Guards -mdl-flatten-constant-globals (FlattenConstantGlobals.cpp): the data
// of a global of nested arrays becomes one flat array, one LLVM constant
// rather than one per row (issue 17: a constant f32[4194304, 1] was 4 million
// of them, 34 s and 2 GB). Its uses are untouched: they address it through a
// pointer.

// CHECK: llvm.mlir.global private constant @rows(dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00]> : tensor<6xf32>) {addr_space = 0 : i32, alignment = 64 : i64} : !llvm.array<6 x f32>
llvm.mlir.global private constant @rows(dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>) {addr_space = 0 : i32, alignment = 64 : i64} : !llvm.array<3 x array<2 x f32>>
// CHECK: llvm.mlir.global private constant @splat(dense<7> : tensor<24xi32>) {{.*}} : !llvm.array<24 x i32>
llvm.mlir.global private constant @splat(dense<7> : tensor<2x3x4xi32>) {addr_space = 0 : i32, alignment = 64 : i64} : !llvm.array<2 x array<3 x array<4 x i32>>>
// Already flat, or without data: unchanged.
// CHECK: llvm.mlir.global private constant @flat(dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>) {{.*}} : !llvm.array<2 x f32>
llvm.mlir.global private constant @flat(dense<[1.0, 2.0]> : tensor<2xf32>) {addr_space = 0 : i32, alignment = 64 : i64} : !llvm.array<2 x f32>
// CHECK: llvm.mlir.global external @state() {addr_space = 0 : i32} : !llvm.array<2 x array<2 x f32>>
llvm.mlir.global external @state() {addr_space = 0 : i32} : !llvm.array<2 x array<2 x f32>>
// Arrays of vectors: each holds several of the data's elements; unchanged.
// CHECK: llvm.mlir.global private constant @vectors({{.*}}) {{.*}} : !llvm.array<2 x array<2 x vector<2xf32>>>
llvm.mlir.global private constant @vectors(dense<[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]> : tensor<2x2x2xf32>) {addr_space = 0 : i32, alignment = 64 : i64} : !llvm.array<2 x array<2 x vector<2xf32>>>

// CHECK-LABEL: llvm.func @first_row
// CHECK:         %[[A:.*]] = llvm.mlir.addressof @rows : !llvm.ptr
// CHECK-NEXT:    llvm.getelementptr %[[A]][0, 0, 0] : (!llvm.ptr) -> !llvm.ptr, !llvm.array<3 x array<2 x f32>>
llvm.func @first_row() -> !llvm.ptr {
  %0 = llvm.mlir.addressof @rows : !llvm.ptr
  %1 = llvm.getelementptr %0[0, 0, 0] : (!llvm.ptr) -> !llvm.ptr, !llvm.array<3 x array<2 x f32>>
  llvm.return %1 : !llvm.ptr
}
