// RUN: mdl-opt %s --mdl-canonical-global-order | FileCheck %s
// RUN: mdl-opt %s --mdl-canonical-global-order --mdl-canonical-global-order | FileCheck %s

// One-shot bufferization names a constant's global after its type, in the
// order it meets the constants, which changes from run to run. Here the
// two 2xf32 constants arrive with their names the other way round from the
// order of their contents (bytes in memory order: 2.0 is 00 00 00 40, 1.0
// is 00 00 80 3f), and the globals out of the
// order of their names, with a function between them: the names follow
// the contents, the uses follow the names, and the globals come first, in
// the order of their names. Other globals keep their names.
// CHECK-LABEL: module
// CHECK-NEXT:    memref.global "private" constant @__constant_2xf32 : memref<2xf32> = dense<2.000000e+00>
// CHECK-NEXT:    memref.global "private" constant @__constant_2xf32_0 : memref<2xf32> = dense<1.000000e+00>
// CHECK-NEXT:    memref.global "private" constant @__constant_4xi64 : memref<4xi64> = dense<[0, 1, 2, 3]>
// CHECK-NEXT:    memref.global "private" @state : memref<2xf32> = dense<2.000000e+00>
// CHECK-NEXT:    func.func @f
// CHECK-NEXT:      %[[ONES:.*]] = memref.get_global @__constant_2xf32_0 : memref<2xf32>
// CHECK-NEXT:      %[[TWOS:.*]] = memref.get_global @__constant_2xf32 : memref<2xf32>
// CHECK-NEXT:      %[[S:.*]] = memref.get_global @state : memref<2xf32>
// CHECK-NEXT:      return %[[ONES]], %[[TWOS]], %[[S]]
module {
  memref.global "private" constant @__constant_4xi64 : memref<4xi64> = dense<[0, 1, 2, 3]>
  memref.global "private" constant @__constant_2xf32 : memref<2xf32> = dense<1.0>
  memref.global "private" @state : memref<2xf32> = dense<2.0>
  func.func @f() -> (memref<2xf32>, memref<2xf32>, memref<2xf32>) {
    %ones = memref.get_global @__constant_2xf32 : memref<2xf32>
    %twos = memref.get_global @__constant_2xf32_0 : memref<2xf32>
    %s = memref.get_global @state : memref<2xf32>
    return %ones, %twos, %s : memref<2xf32>, memref<2xf32>, memref<2xf32>
  }
  memref.global "private" constant @__constant_2xf32_0 : memref<2xf32> = dense<2.0>
}
