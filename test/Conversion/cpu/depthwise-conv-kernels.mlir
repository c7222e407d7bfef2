// RUN: mdl-opt %s --pass-pipeline="builtin.module(mdl-depthwise-conv-kernels)" | FileCheck %s

// A depthwise convolution on buffers (a tile of one output row, as
// -mdl-tile-and-fuse cuts it; the loops in the order the lowering makes
// them, n c oh ow kh kw) becomes a call of the kernel for its form.
#x = affine_map<(n, c, oh, ow, kh, kw) -> (n, c, oh + kh, ow + kw)>
#w = affine_map<(n, c, oh, ow, kh, kw) -> (c, kh, kw)>
#y = affine_map<(n, c, oh, ow, kh, kw) -> (n, c, oh, ow)>
func.func @stride1(%x: memref<1x6x3x39xf32, strided<[2340, 585, 39, 1], offset: ?>>,
                   %w: memref<6x3x3xf32>, %y: memref<1x6x1x37xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #y],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %w : memref<1x6x3x39xf32, strided<[2340, 585, 39, 1], offset: ?>>, memref<6x3x3xf32>)
      outs(%y : memref<1x6x1x37xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-LABEL: func.func @stride1
// CHECK-NOT:     linalg.generic
// CHECK:         call @modelc_depthwise_3x3_s1x1_d1x1({{.*}}) : (memref<1x6x3x39xf32, strided<[2340, 585, 39, 1], offset: ?>>, memref<6x3x3xf32>, memref<1x6x1x37xf32>) -> ()

// Stride 2 and dilation 2, in another loop order (ow innermost): the same
// form, found by its maps.
#x2 = affine_map<(n, c, oh, kh, kw, ow) -> (n, c, oh * 2 + kh * 2, ow * 2 + kw * 2)>
#w2 = affine_map<(n, c, oh, kh, kw, ow) -> (c, kh, kw)>
#y2 = affine_map<(n, c, oh, kh, kw, ow) -> (n, c, oh, ow)>
func.func @stride2_dilated(%x: memref<2x5x9x21xf32>, %w: memref<5x3x3xf32>, %y: memref<2x5x3x9xf32>) {
  linalg.generic {indexing_maps = [#x2, #w2, #y2],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "parallel"]}
      ins(%x, %w : memref<2x5x9x21xf32>, memref<5x3x3xf32>) outs(%y : memref<2x5x3x9xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-LABEL: func.func @stride2_dilated
// CHECK:         call @modelc_depthwise_3x3_s2x2_d2x2(

// The same form on other shapes: another kernel.
func.func @stride1_other(%x: memref<1x8x3x18xf32>, %w: memref<8x3x3xf32>, %y: memref<1x8x1x16xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #y],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %w : memref<1x8x3x18xf32>, memref<8x3x3xf32>) outs(%y : memref<1x8x1x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-LABEL: func.func @stride1_other
// CHECK:         call @modelc_depthwise_3x3_s1x1_d1x1_1(

// Stride 3 reads three times a vector's inputs: left to the generic loops.
#x3 = affine_map<(n, c, oh, ow, kh, kw) -> (n, c, oh * 3 + kh, ow * 3 + kw)>
func.func @stride3(%x: memref<1x4x9x9xf32>, %w: memref<4x3x3xf32>, %y: memref<1x4x3x3xf32>) {
  linalg.generic {indexing_maps = [#x3, #w, #y],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %w : memref<1x4x9x9xf32>, memref<4x3x3xf32>) outs(%y : memref<1x4x3x3xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-LABEL: func.func @stride3
// CHECK:         linalg.generic
// CHECK-NOT:     call @modelc_depthwise

// Not a depthwise form: the filter indexed by an output channel of its own
// (a grouped convolution's [G, F, ...]) is no w[c, kh, kw].
#xg = affine_map<(n, c, oh, ow, kh, kw) -> (n, c, oh + kh, ow + kw)>
#wg = affine_map<(n, c, oh, ow, kh, kw) -> (n, kh, kw)>
func.func @not_depthwise(%x: memref<1x4x5x5xf32>, %w: memref<1x3x3xf32>, %y: memref<1x4x3x3xf32>) {
  linalg.generic {indexing_maps = [#xg, #wg, #y],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %w : memref<1x4x5x5xf32>, memref<1x3x3xf32>) outs(%y : memref<1x4x3x3xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-LABEL: func.func @not_depthwise
// CHECK:         linalg.generic

// The kernel of stride 1, for the operands' own types (static strides:
// every load a base and a constant offset): per block of 4 channels (then
// channels one by one) views of the block from its first channel, per
// output row whole vectors of 8 (the default target's AVX2 lanes) then a
// masked rest; 9 taps of one load and one FMA per channel, the
// accumulators loaded from and stored to the output.
// CHECK-LABEL: func.func private @modelc_depthwise_3x3_s1x1_d1x1(%arg0: memref<1x6x3x39xf32, strided<[2340, 585, 39, 1], offset: ?>>, %arg1: memref<6x3x3xf32>, %arg2: memref<1x6x1x37xf32>)
// CHECK-SAME:    passthrough = ["noinline"]
// CHECK:         %[[X:.*]] = memref.subview %arg0[%{{.*}}, %{{.*}}, 0, 0] [1, 4, 3, 39] [1, 1, 1, 1] : {{.*}} to memref<4x3x39xf32, strided<[585, 39, 1], offset: ?>>
// CHECK:         %[[W:.*]] = memref.subview %arg1[%{{.*}}, 0, 0] [4, 3, 3]
// CHECK:         %[[OUT:.*]] = memref.subview %arg2[%{{.*}}, %{{.*}}, 0, 0] [1, 4, 1, 37]
// CHECK-COUNT-4: vector.load %[[OUT]]{{.*}} vector<8xf32>
// CHECK-COUNT-36: vector.fma
// CHECK-COUNT-4: vector.store {{.*}}, %[[OUT]]
// CHECK:         vector.create_mask
// CHECK:         vector.maskedload %[[OUT]]
// CHECK:         vector.maskedstore %[[OUT]]

// Stride 2: twice as many inputs, masked to the last one a vector needs,
// their even lanes kept.
// CHECK-LABEL: func.func private @modelc_depthwise_3x3_s2x2_d2x2
// CHECK:         vector.create_mask %c15 : vector<16xi1>
// CHECK:         vector.maskedload {{.*}} into vector<16xf32>
// CHECK:         vector.shuffle {{.*}} [0, 2, 4, 6, 8, 10, 12, 14] : vector<16xf32>, vector<16xf32>

// A second shape of the same form gets a kernel of its own.
// CHECK-LABEL: func.func private @modelc_depthwise_3x3_s1x1_d1x1_1(%arg0: memref<1x8x3x18xf32>
