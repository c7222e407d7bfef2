// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(mdl-fuse-elementwise))" -mlir-print-local-scope | FileCheck %s

// Guards -mdl-fuse-elementwise (FuseElementwise.cpp): an all-parallel
// producer used once is fused into its all-parallel consumer; a producer
// used twice, and any producer of a reduction, stay where they are (linalg's
// own elementwise fusion would fuse both).

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (n, k)>
#y = affine_map<(m, n, k) -> (m, n)>

// bias add then ReLU: one loop nest, the producer's inputs and maps taken
// over, both bodies in one.
// CHECK-LABEL: func.func @chain
// CHECK:         %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%arg0, %arg1 : tensor<4x8xf32>, tensor<8xf32>)
// CHECK-NEXT:    ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[S:.*]] = arith.addf %[[A]], %[[B]] : f32
// CHECK-NEXT:      %[[M:.*]] = arith.maximumf %[[S]], %cst : f32
// CHECK-NEXT:      linalg.yield %[[M]] : f32
// CHECK:         return %[[R]]
// CHECK-NOT:     linalg.generic
func.func @chain(%x: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %0 = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %b : tensor<4x8xf32>, tensor<8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %s = arith.addf %a, %c : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  %1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%0 : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %z = arith.constant 0.0 : f32
    %r = arith.maximumf %a, %z : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  return %1 : tensor<4x8xf32>
}

// A result used twice (softmax's exponentials feed its sum and its
// division) is computed once, not once more inside each consumer.
// CHECK-LABEL: func.func @used_twice
// CHECK:         %[[E:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<4x8xf32>)
// CHECK:           math.exp
// CHECK:         %[[N:.*]] = linalg.generic {{.*}} ins(%[[E]] : tensor<4x8xf32>)
// CHECK-NOT:       math.exp
// CHECK:           arith.negf
// CHECK:         return %[[E]], %[[N]]
func.func @used_twice(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%0 : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.negf %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
}

// ReLU before a Linear stays outside the contraction: fused, it would be
// recomputed for every output column (once per reduction step of each).
// CHECK-LABEL: func.func @not_into_reduction
// CHECK:         %[[RELU:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]} ins(%arg0 : tensor<4x8xf32>)
// CHECK:           arith.maximumf
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[RELU]], %arg1 : tensor<4x8xf32>, tensor<3x8xf32>)
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      arith.mulf
// CHECK-NEXT:      arith.addf
// CHECK-NEXT:      linalg.yield
func.func @not_into_reduction(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>, %acc: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %z = arith.constant 0.0 : f32
    %r = arith.maximumf %a, %z : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %1 = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%0, %w : tensor<4x8xf32>, tensor<3x8xf32>) outs(%acc : tensor<4x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  } -> tensor<4x3xf32>
  return %1 : tensor<4x3xf32>
}

// The ReLU after a Linear stays its own op too (a contraction is no
// elementwise producer): -mdl-tile-and-fuse fuses the two by tiles.
// CHECK-LABEL: func.func @epilogue_stays
// CHECK:         %[[MM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]} ins(%[[MM]] : tensor<4x3xf32>)
// CHECK:           arith.maximumf
func.func @epilogue_stays(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>, %acc: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %0 = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<4x8xf32>, tensor<3x8xf32>) outs(%acc : tensor<4x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  } -> tensor<4x3xf32>
  %e = tensor.empty() : tensor<4x3xf32>
  %1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%0 : tensor<4x3xf32>) outs(%e : tensor<4x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %z = arith.constant 0.0 : f32
    %r = arith.maximumf %a, %z : f32
    linalg.yield %r : f32
  } -> tensor<4x3xf32>
  return %1 : tensor<4x3xf32>
}

// Splat constants (a constant's zeros(), ones(), full(v)) never become
// globals of copies of one value (issue 17). Read by an elementwise op, one
// is a scalar in its body; one of more than 4096 elements that fusion left
// (a matmul's operand, a cat's, a result) is a fill of an empty tensor; a
// small one, and data that is not one value, stay constants.
// CHECK-LABEL: func.func @splat_constants
// CHECK-DAG:     %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG:     %[[TWO:.*]] = arith.constant 2.000000e+00 : f32
// CHECK-DAG:     %[[SMALL:.*]] = arith.constant dense<3.000000e+00> : tensor<4096xf32>
// CHECK-DAG:     %[[DATA:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK-DAG:     %[[EMPTY:.*]] = tensor.empty() : tensor<2048x2048xf32>
// CHECK-DAG:     %[[FILL:.*]] = linalg.fill ins(%[[TWO]] : f32) outs(%[[EMPTY]] : tensor<2048x2048xf32>)
// CHECK-DAG:     %[[SUM:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<2048x2048xf32>)
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      arith.addf %{{.*}}, %[[ONE]]
// CHECK:         return %[[SUM]], %[[FILL]], %[[SMALL]], %[[DATA]]
// CHECK-NOT:     dense<1.000000e+00>
// CHECK-NOT:     dense<2.000000e+00>
func.func @splat_constants(%x: tensor<2048x2048xf32>) -> (tensor<2048x2048xf32>, tensor<2048x2048xf32>, tensor<4096xf32>, tensor<2xf32>) {
  %ones = arith.constant dense<1.0> : tensor<2048x2048xf32>
  %twos = arith.constant dense<2.0> : tensor<2048x2048xf32>
  %small = arith.constant dense<3.0> : tensor<4096xf32>
  %data = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %e = tensor.empty() : tensor<2048x2048xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %ones : tensor<2048x2048xf32>, tensor<2048x2048xf32>) outs(%e : tensor<2048x2048xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<2048x2048xf32>
  return %0, %twos, %small, %data : tensor<2048x2048xf32>, tensor<2048x2048xf32>, tensor<4096xf32>, tensor<2xf32>
}

// A producer the consumer broadcasts stays apart, whether its map leaves
// the broadcast loops out (a per-channel vector) or writes them as constant
// zeros (a [1, C, 1, 1] gate): fused, its sigmoid would be computed again
// at every pixel. One read without broadcast (size-1 loops) still fuses.
// CHECK-LABEL: func.func @broadcast_producers
// CHECK:         %[[GATE:.*]] = linalg.generic {{.*}} ins(%arg1 : tensor<1x8x1x1xf32>)
// CHECK:           arith.negf
// CHECK:         %[[SCALE:.*]] = linalg.generic {{.*}} ins(%arg2 : tensor<8xf32>)
// CHECK:           math.sqrt
// CHECK:         %[[Y:.*]] = linalg.generic {{.*}} ins(%arg0, %[[GATE]], %[[SCALE]] :
// CHECK-NOT:       math.sqrt
// CHECK:         %[[SAME:.*]] = linalg.generic {{.*}} ins(%arg1 : tensor<1x8x1x1xf32>)
// CHECK:           arith.negf
// CHECK:           arith.mulf
// CHECK:         return %[[Y]], %[[SAME]]
#nchw = affine_map<(n, c, h, w) -> (n, c, h, w)>
#gate = affine_map<(n, c, h, w) -> (0, c, 0, 0)>
#chan = affine_map<(n, c, h, w) -> (c)>
func.func @broadcast_producers(%x: tensor<1x8x14x14xf32>, %g: tensor<1x8x1x1xf32>, %v: tensor<8xf32>)
    -> (tensor<1x8x14x14xf32>, tensor<1x8x1x1xf32>) {
  %eg = tensor.empty() : tensor<1x8x1x1xf32>
  %gate = linalg.generic {indexing_maps = [#nchw, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%g : tensor<1x8x1x1xf32>) outs(%eg : tensor<1x8x1x1xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<1x8x1x1xf32>
  %ev = tensor.empty() : tensor<8xf32>
  %scale = linalg.generic {indexing_maps = [affine_map<(c) -> (c)>, affine_map<(c) -> (c)>], iterator_types = ["parallel"]}
      ins(%v : tensor<8xf32>) outs(%ev : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = math.sqrt %a : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %e = tensor.empty() : tensor<1x8x14x14xf32>
  %y = linalg.generic {indexing_maps = [#nchw, #gate, #chan, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x, %gate, %scale : tensor<1x8x14x14xf32>, tensor<1x8x1x1xf32>, tensor<8xf32>) outs(%e : tensor<1x8x14x14xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.mulf %m, %c : f32
    linalg.yield %r : f32
  } -> tensor<1x8x14x14xf32>
  %gate2 = linalg.generic {indexing_maps = [#nchw, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%g : tensor<1x8x1x1xf32>) outs(%eg : tensor<1x8x1x1xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<1x8x1x1xf32>
  %same = linalg.generic {indexing_maps = [#gate, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%gate2 : tensor<1x8x1x1xf32>) outs(%eg : tensor<1x8x1x1xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %a : f32
    linalg.yield %m : f32
  } -> tensor<1x8x1x1xf32>
  return %y, %same : tensor<1x8x14x14xf32>, tensor<1x8x1x1xf32>
}
